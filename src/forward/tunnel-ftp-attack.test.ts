// Attacks on the gateway's FTP data rules by a certificate holder speaking
// raw insel/1 requests (no relay to keep it honest), on loopback:
//
//   alice ══ CONNECT (insel-ftp: control) ══► gateway ──► vsftpd      (allowed by policy)
//         ══ CONNECT (insel-ftp: data) ═════► gateway ──► secret port (allowed by no rule)
//         ══ POST listen (insel-ftp: active) ► gateway listens ◄── whoever connects
//
// The policy lets alice reach vsftpd's control port, a banner service and an
// echo service, nothing else: every data connection must be one the gateway
// saw announced on a control connection that really speaks FTP.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { ftpToolsMissing, startVsftpd, type Vsftpd } from '../ftp/testing.js';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { MAX_ACTIVE_PER_CONTROL, MAX_ACTIVE_PER_SESSION } from '../gateway/ftp-watch.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { H_BOUND, H_CONTROL, H_FTP, H_STREAM } from './protocol.js';
import { ForwardSession, GatewayRefusedError, onJsonLines, type OpenStream } from './session.js';
import { parseHostPort } from '../net/host-port.js';
import { echoServer, profiles, startGateway, tcpServer, until, type TestGateway } from './testing.js';

const skip = ftpToolsMissing();
const DEADLINE_MS = 10_000;

/** Reads a raw control stream line by line; `reply` waits for a line matching `re`. */
function controlLines(stream: Duplex): { reply(re: RegExp): Promise<string>; send(line: string): void } {
  const lines: string[] = [];
  let rest = '';
  stream.setEncoding('latin1');
  stream.on('data', (s: string) => {
    rest += s;
    const parts = rest.split('\r\n');
    rest = parts.pop()!;
    lines.push(...parts);
  });
  return {
    async reply(re) {
      let found: string | undefined;
      await until(() => (found = lines.find((l) => re.test(l))) !== undefined, `a control line matching ${re}`, DEADLINE_MS);
      lines.splice(lines.indexOf(found!), 1);
      return found!;
    },
    send: (line) => void stream.write(`${line}\r\n`),
  };
}

/** Asserts the gateway refused `p` with `code`, its reason matching `re`. */
async function refused(p: Promise<unknown>, code: string, re: RegExp, what: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof GatewayRefusedError, `${what}: expected a refusal, got ${String(err)}`);
    assert.equal(err.refusal.code, code, `${what}: ${err.message}`);
    assert.match(err.message, re, what);
    return true;
  }, `${what}: the gateway let it through`);
}

/** Connects to `port` from `localAddress`; resolves once the gateway has closed it. */
function droppedByGateway(port: number, localAddress: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress });
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`the gateway kept a connection from ${localAddress} to ${port} open for ${DEADLINE_MS} ms`))), DEADLINE_MS);
    s.on('error', () => undefined);
    s.resume();
    s.once('close', () => (clearTimeout(timer), resolve()));
  });
}

describe('FTP data rules under attack: raw insel/1 requests against a real gateway and vsftpd', { skip }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let dirs: ReturnType<typeof profiles>;
  let tg: TestGateway;
  let ftpd: Vsftpd;
  let secret: Awaited<ReturnType<typeof tcpServer>>;
  let banner: Awaited<ReturnType<typeof tcpServer>>;
  let echo: Awaited<ReturnType<typeof echoServer>>;

  before(async () => {
    const pki: TestPki = await makeTestPki();
    cleanups.push(() => pki.cleanup());
    dirs = profiles(pki, ['srv', 'alice']);
    cleanups.push(() => dirs.cleanup());
    ftpd = await startVsftpd();
    cleanups.push(() => ftpd.close());
    // What the attacker wants and no rule allows: an SSH-like service.
    secret = await tcpServer((s) => s.end('SSH-2.0-secret\r\n'));
    cleanups.push(() => secret.close());
    // Allowed, but not FTP: greets with an SSH banner.
    banner = await tcpServer((s) => (s.write('SSH-2.0-OpenSSH_9.2\r\n'), s.resume()));
    cleanups.push(() => banner.close());
    // Allowed, not FTP, and repeats whatever it is told.
    echo = await echoServer();
    cleanups.push(() => echo.close());
    const rules = `[[allow]]\nname = "alice to ftp, banner and echo"\nwho = ["user:alice"]\nto = ["127.0.0.1"]\nports = ["${ftpd.port}", "${banner.port}", "${echo.port}"]\nproto = ["tcp"]\n`;
    tg = await startGateway(dirs.dir, dirs.profile('srv'), rules);
    cleanups.push(() => tg.close());
  });

  after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  async function session(t: TestContext): Promise<ForwardSession> {
    const s = await ForwardSession.open({ via: { host: '127.0.0.1', port: tg.port }, identity: readIdentityFiles(profileFiles(dirs.profile('alice'))) });
    t.after(() => s.destroy());
    return s;
  }

  /** A control connection to vsftpd, greeted and logged in as anonymous. */
  async function ftpControl(t: TestContext, s: ForwardSession): Promise<{ id: string; lines: ReturnType<typeof controlLines> }> {
    const c = await s.connect('127.0.0.1', ftpd.port, { [H_FTP]: 'control' });
    t.after(() => c.stream.destroy());
    const lines = controlLines(c.stream);
    await lines.reply(/^220 /);
    lines.send('USER anonymous');
    await lines.reply(/^230 /); // vsftpd here asks no anonymous password
    return { id: String(c.headers[H_STREAM]), lines };
  }

  const data = (s: ForwardSession, port: number, control: string) => s.connect('127.0.0.1', port, { [H_FTP]: 'data', [H_CONTROL]: control });

  test('the policy itself refuses the secret port', async (t) => {
    const s = await session(t);
    await refused(s.connect('127.0.0.1', secret.port), 'INSEL_POLICY_DENIED', /no policy rule/, 'a plain CONNECT to the secret port');
  });

  test('(a) a data CONNECT to a port no 227/229 announced is refused', async (t) => {
    const s = await session(t);
    const { id } = await ftpControl(t, s);
    await refused(data(s, secret.port, id), 'INSEL_POLICY_DENIED', /FTP data connection .* refused: the server announced no passive data port/, 'data to the secret port');
  });

  test('(b) an announced passive port takes one data connection, not two', async (t) => {
    const s = await session(t);
    const { id, lines } = await ftpControl(t, s);
    lines.send('PASV');
    const reply = await lines.reply(/^227 /);
    const n = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(reply)!.slice(1).map(Number);
    const port = n[4]! * 256 + n[5]!;
    const first = await data(s, port, id);
    t.after(() => first.stream.destroy());
    await refused(data(s, port, id), 'INSEL_POLICY_DENIED', /announced no passive data port .*or it was used already/, 'a second data connection to the announced port');
  });

  test('(c) a control connection to a server that does not greet with 220 authorizes nothing', async (t) => {
    const s = await session(t);
    const c = await s.connect('127.0.0.1', banner.port, { [H_FTP]: 'control' });
    t.after(() => c.stream.destroy());
    await controlLines(c.stream).reply(/^SSH-2\.0-/);
    const id = String(c.headers[H_STREAM]);
    await refused(data(s, secret.port, id), 'INSEL_POLICY_DENIED', /did not greet with 220: it does not speak FTP/, 'data via a non-FTP control');
    await refused(s.listen({ [H_FTP]: 'active', [H_CONTROL]: id }), 'INSEL_POLICY_DENIED', /does not speak FTP/, 'an active port via a non-FTP control');
  });

  test('(c) an echo service cannot be made to forge the greeting and a 227', async (t) => {
    const s = await session(t);
    const c = await s.connect('127.0.0.1', echo.port, { [H_FTP]: 'control' });
    t.after(() => c.stream.destroy());
    const lines = controlLines(c.stream);
    const forged = `227 Entering Passive Mode (127,0,0,1,${secret.port >> 8},${secret.port & 255})`;
    lines.send('220 forged greeting');
    lines.send(forged);
    await lines.reply(/^227 /); // the echo came back through the gateway's tap
    await refused(data(s, secret.port, String(c.headers[H_STREAM])), 'INSEL_POLICY_DENIED', /the client spoke before the server greeted with 220/, 'data via a forged 227');
  });

  test('(d) active-mode ports are bounded per control connection and per session', async (t) => {
    const s = await session(t);
    const opened: OpenStream[] = [];
    t.after(() => opened.forEach((o) => o.stream.destroy()));
    const controls: string[] = [];
    for (let i = 0; i <= MAX_ACTIVE_PER_SESSION / MAX_ACTIVE_PER_CONTROL; i++) controls.push((await ftpControl(t, s)).id);
    const listen = async (id: string) => {
      const o = await s.listen({ [H_FTP]: 'active', [H_CONTROL]: id });
      opened.push(o);
      return o;
    };
    for (let i = 0; i < MAX_ACTIVE_PER_CONTROL; i++) await listen(controls[0]!);
    await refused(listen(controls[0]!), 'INSEL_LIMIT', new RegExp(`control connection ${controls[0]} already has ${MAX_ACTIVE_PER_CONTROL} open`), 'one port too many on a control connection');
    for (const id of controls.slice(1, -1)) for (let i = 0; i < MAX_ACTIVE_PER_CONTROL; i++) await listen(id);
    await refused(listen(controls.at(-1)!), 'INSEL_LIMIT', new RegExp(`this session already has ${MAX_ACTIVE_PER_SESSION} open`), 'one port too many in the session');
    // Closing one gives its place back (the gateway learns of it a moment later).
    opened[0]!.stream.destroy();
    const end = Date.now() + DEADLINE_MS;
    for (;;) {
      const r = await listen(controls.at(-1)!).then(
        () => 'opened',
        (err: unknown) => (err instanceof GatewayRefusedError && err.refusal.code === 'INSEL_LIMIT' && Date.now() < end ? 'retry' : Promise.reject(err)),
      );
      if (r === 'opened') break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  test('(d) an active-mode port takes only the server, and only after a relayed PORT named it', async (t) => {
    const s = await session(t);
    const { id, lines } = await ftpControl(t, s);
    const opened = await s.listen({ [H_FTP]: 'active', [H_CONTROL]: id });
    t.after(() => opened.stream.destroy());
    const bound = parseHostPort(String(opened.headers[H_BOUND]), 'insel-bound');
    const conns: { conn: number; from: string }[] = [];
    onJsonLines(opened.stream, (e: { conn: number; from: string }) => void conns.push(e));

    // From the server's own address, but no PORT named the port yet: dropped.
    await droppedByGateway(bound.port, '127.0.0.1');
    lines.send(`PORT 127,0,0,1,${bound.port >> 8},${bound.port & 255}`);
    await lines.reply(/^200 /);
    // Named now, but from another address than the server's: dropped.
    await droppedByGateway(bound.port, '127.0.0.2');
    // The server's address after the PORT: taken, and the first one announced.
    const taken = connect({ host: '127.0.0.1', port: bound.port, localAddress: '127.0.0.1' });
    t.after(() => taken.destroy());
    taken.on('error', () => undefined);
    await until(() => conns.length > 0 && taken.localPort !== undefined, 'the gateway announcing the connection', DEADLINE_MS);
    assert.deepEqual(conns, [{ conn: conns[0]!.conn, from: `127.0.0.1:${taken.localPort}` }]);
  });
});
