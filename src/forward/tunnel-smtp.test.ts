// SMTP through a service tunnel, with a real SMTP server (nodemailer's
// smtp-server) and curl as the real SMTP client:
//
//   curl / net.Socket ──► -L 127.0.0.1:fwd ══ HTTP/2 CONNECT (mTLS, alice) ══► gateway ──► SMTPServer 127.0.0.1:smtp
//
// and the site-to-site flavour: the `insel forward --config forwards.toml`
// CLI as a child process, the way a branch office keeps its mail relay
// path to headquarters open. Every wait has a deadline; the gateway,
// forwarders, servers, child process and temp dirs are closed in `after`
// or t.after, even when a step fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { CURL, runCurl } from '../ftp/testing.js';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { parseForwardSpec } from './spec.js';
import { ALLOW_ALICE_LOOPBACK, insel, profiles, startForwarder, startGateway, until, type TestGateway } from './testing.js';

interface Mail {
  from: string | false;
  to: string[];
  data: Buffer;
  /** who the server saw connect: the gateway's end of the tunnel */
  remote: string;
}

interface TestSmtp {
  port: number;
  mails: Mail[];
  close(): Promise<void>;
}

/** The real SMTP server on loopback, no TLS, no auth; collects every message with its envelope. */
async function startSmtp(): Promise<TestSmtp> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    banner: 'insel test mail server',
    closeTimeout: 2000,
    onData(stream, session, cb) {
      const parts: Buffer[] = [];
      stream.on('data', (b: Buffer) => parts.push(b));
      stream.once('end', () => {
        const env = session.envelope;
        mails.push({ from: env.mailFrom === false ? false : env.mailFrom.address, to: env.rcptTo.map((r) => r.address), data: Buffer.concat(parts), remote: session.remoteAddress });
        cb();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.server.address() as AddressInfo).port,
    mails,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A socket with a line queue; every read has a deadline. */
function lineClient(port: number): { socket: Socket; closed: Promise<void>; next(ms?: number): Promise<string | undefined>; send(line: string): void } {
  const socket = connect(port, '127.0.0.1');
  const lines: (string | undefined)[] = [];
  const waiters: ((l: string | undefined) => void)[] = [];
  const put = (l: string | undefined) => {
    const w = waiters.shift();
    if (w) w(l);
    else lines.push(l);
  };
  let rest = '';
  socket.setEncoding('utf8');
  socket.on('data', (s: string) => {
    rest += s;
    for (let nl = rest.indexOf('\r\n'); nl >= 0; nl = rest.indexOf('\r\n')) {
      put(rest.slice(0, nl));
      rest = rest.slice(nl + 2);
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  void closed.then(() => put(undefined)); // undefined: the connection is gone
  return {
    socket,
    closed,
    send: (line) => void socket.write(`${line}\r\n`),
    next(ms = 10_000) {
      if (lines.length > 0) return Promise.resolve(lines.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no SMTP reply line within ${ms} ms`)), ms);
        waiters.push((l) => {
          clearTimeout(timer);
          resolve(l);
        });
      });
    },
  };
}

/** Reads one (possibly multi-line) SMTP reply: its lines, the last one "CODE text". */
async function reply(c: ReturnType<typeof lineClient>): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const l = await c.next();
    if (l === undefined) throw new Error(`the connection closed mid-reply after ${JSON.stringify(out)}`);
    out.push(l);
    if (/^\d{3}( |$)/.test(l)) return out;
    if (!/^\d{3}-/.test(l)) throw new Error(`not an SMTP reply line: ${JSON.stringify(l)}`);
  }
}

/** A message with CRLF lines, a dot-led line (curl stuffs it, the server unstuffs it) and ~100 KB of body. */
function message(subject: string): Buffer {
  const body = randomBytes(75_000).toString('base64').match(/.{1,76}/g)!;
  return Buffer.from(
    [
      'From: Branch Office <a@x.example>',
      'To: Headquarters <b@y.example>',
      `Subject: ${subject}`,
      'Message-ID: <tunnel-test@x.example>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'Hello from the branch, through the insel tunnel.',
      '.a line that starts with a dot',
      ...body,
      '',
    ].join('\r\n'),
  );
}

const skip = existsSync(CURL) ? undefined : process.env['CI'] === 'true' ? undefined : `${CURL} not installed`;

describe('SMTP through the tunnel: curl and a real SMTP server', { skip }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let pki: TestPki;
  let dirs: ReturnType<typeof profiles>;
  let tg: TestGateway;
  let smtp: TestSmtp;
  let fwdPort: number;

  before(async () => {
    pki = await makeTestPki();
    cleanups.push(() => pki.cleanup());
    dirs = profiles(pki, ['srv', 'alice']);
    cleanups.push(() => dirs.cleanup());
    smtp = await startSmtp();
    cleanups.push(() => smtp.close());
    tg = await startGateway(dirs.dir, dirs.profile('srv'), ALLOW_ALICE_LOOPBACK);
    cleanups.push(() => tg.close());
    const tf = await startForwarder(tg.port, dirs.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${smtp.port}`)]);
    cleanups.push(() => tf.close());
    fwdPort = tf.ports[0]!;
  });

  after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  async function sendWithCurl(port: number, subject: string): Promise<{ sent: Buffer; mail: Mail }> {
    const sent = message(subject);
    const file = join(dirs.dir, `mail-${port}-${Date.now()}.txt`);
    writeFileSync(file, sent);
    const before = smtp.mails.length;
    const r = await runCurl([`smtp://127.0.0.1:${port}`, '--mail-from', 'a@x.example', '--mail-rcpt', 'b@y.example', '-T', file], 30_000);
    assert.equal(r.code, 0, `curl failed: ${r.stderr}`);
    // curl exits after the server's 250 to DATA, which smtp-server sends once onData is done.
    assert.equal(smtp.mails.length, before + 1);
    return { sent, mail: smtp.mails.at(-1)! };
  }

  test('curl sends a mail through -L: the server gets exactly the message and the envelope', async () => {
    const mark = tg.logs.length;
    const { sent, mail } = await sendWithCurl(fwdPort, 'through the tunnel');
    assert.equal(mail.from, 'a@x.example');
    assert.deepEqual(mail.to, ['b@y.example']);
    assert.equal(mail.data.toString('latin1'), sent.toString('latin1'));
    assert.equal(mail.remote, '127.0.0.1');
    // The gateway carried it, for alice, to the server.
    await until(() => tg.logs.slice(mark).some((l) => l['msg'] === 'connection'), 'the gateway logging the SMTP connection');
    const conn = tg.logs.slice(mark).find((l) => l['msg'] === 'connection')!;
    assert.equal(conn['who'], 'alice');
    assert.equal(conn['kind'], 'connect');
    assert.equal(conn['address'], `127.0.0.1:${smtp.port}`);
    assert.ok(Number(conn['up']) > sent.length, `up ${String(conn['up'])} bytes: the message and the commands`);
  });

  test('a raw SMTP dialogue through -L: 220 greeting, EHLO, QUIT 221', async (t) => {
    const c = lineClient(fwdPort);
    t.after(() => c.socket.destroy());
    const greeting = await reply(c);
    assert.match(greeting.at(-1)!, /^220 .*insel test mail server/);
    c.send('EHLO branch.example');
    const ehlo = await reply(c);
    assert.match(ehlo[0]!, /^250[- ]/);
    assert.match(ehlo.at(-1)!, /^250 /);
    assert.ok(!ehlo.some((l) => /STARTTLS/.test(l)), 'STARTTLS is disabled');
    c.send('NOOP');
    assert.match((await reply(c)).at(-1)!, /^250 /);
    c.send('QUIT');
    assert.match((await reply(c)).at(-1)!, /^221 /);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([c.closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the tunnel stayed open after QUIT')), 10_000)))]).finally(() => clearTimeout(timer));
  });

  test('site-to-site mail relay: `insel forward --config forwards.toml` carries a mail', async (t) => {
    const config = join(dirs.dir, 'forwards.toml');
    writeFileSync(
      config,
      [
        '# a branch office relaying mail to headquarters through the gateway',
        `via = "127.0.0.1:${tg.port}"`,
        `profile = "${dirs.profile('alice')}"`,
        'reconnect_min = "100ms"',
        'reconnect_max = "1s"',
        '',
        '[[forward]]',
        'type = "local"',
        'listen = "127.0.0.1:0"',
        `to = "127.0.0.1:${smtp.port}"`,
        '',
      ].join('\n'),
    );
    const child = insel(['forward', '--config', config]);
    t.after(() => child.kill());
    const line = await child.line(/^forward -L /);
    const m = /^forward -L 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+)$/.exec(line);
    assert.ok(m, line);
    assert.equal(Number(m[2]), smtp.port);
    const port = Number(m[1]);

    // The line comes once the port is bound, which can be before the
    // gateway session is up; until then connections are refused. Wait for
    // a greeting through the tunnel before handing the port to curl.
    const end = Date.now() + 10_000;
    for (;;) {
      const probe = lineClient(port);
      const first = await probe.next().catch(() => undefined);
      if (first !== undefined && /^220 /.test(first)) {
        probe.send('QUIT');
        await reply(probe).catch(() => undefined);
        probe.socket.destroy();
        break;
      }
      probe.socket.destroy();
      if (Date.now() > end) throw new Error(`no SMTP greeting through the CLI forward within 10 s:\n${[...child.out, ...child.err].join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    const { sent, mail } = await sendWithCurl(port, 'site to site');
    assert.equal(mail.from, 'a@x.example');
    assert.deepEqual(mail.to, ['b@y.example']);
    assert.equal(mail.data.toString('latin1'), sent.toString('latin1'));
    assert.equal(child.proc.exitCode, null, 'the forwarder keeps running');
  });
});
