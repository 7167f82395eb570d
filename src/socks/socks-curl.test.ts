// `insel forward -D` end to end with real curl, gateway and forwarder in this
// process:
//
//   curl --socks5-hostname ──► Forwarder -D ══ insel/1 session ══► Gateway ──► HTTP server
//   (or a raw socket)          (127.0.0.1:D)     (alice → srv)      (policy,     (127.0.0.1 / ::1)
//                                                                   fake DNS)
//
// A name only the gateway's (fake) DNS knows reaches the page, so the client
// never resolved it; IPv4 and IPv6 literals too. A denied target and a closed
// port get their SOCKS reply codes (curl names them), and the forwarder's
// warn line carries the gateway's reason. RFC 1929 right and wrong; BIND and
// bad input get their replies from a raw socket; a client that never finishes
// its handshake is cut at the deadline while others are served; one that
// never closes after a refusal is cut; a flood of failed handshakes is one
// summed warn line.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createServer, type Server } from 'node:http';
import { freePort } from '../forward/tunnel-testing.js';
import { until } from '../forward/testing.js';
import { Command, Method, Reply, SOCKS_VERSION } from './messages.js';
import { HANDSHAKE_MS } from './server.js';
import { encodeGreeting, encodeRequest } from './testing.js';
import { greet, ipv6LoopbackMissing, rawSocks, socksSetup, type RawSocks } from './e2e-testing.js';

const NAME = 'web.socks.test';
const RULES = `[[allow]]\nname = "alice on loopback"\nwho = ["user:alice"]\nto = ["127.0.0.1", "::1"]\nports = ["*"]\nproto = ["tcp", "udp"]\n`;
/** curl's exit code for a proxy handshake error (CURLE_PROXY, 7.73 and later). */
const CURLE_PROXY = 97;
const noIpv6 = await ipv6LoopbackMissing();

function curl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    // No proxy from the environment: only what the test says.
    const env = { ...process.env, ALL_PROXY: '', all_proxy: '', http_proxy: '', HTTPS_PROXY: '', https_proxy: '', NO_PROXY: '', no_proxy: '' };
    execFile('curl', ['-sS', '-g', '--max-time', '20', ...args], { env }, (err, out, errText) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out, err: errText }));
  });
}

/** An HTTP server on `host` naming the request it got; closed after `t`. */
async function httpServer(t: TestContext, host: string): Promise<number> {
  const server: Server = createServer((req, res) => res.end(`hello from ${host}: ${req.method} ${req.url} host ${req.headers.host}\n`));
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as { port: number }).port;
}

async function setup(t: TestContext) {
  const web = await httpServer(t, '127.0.0.1');
  const s = await socksSetup(t, RULES, { names: { [NAME]: '127.0.0.1' }, listeners: [{}, { socksAuth: { username: 'sockuser', password: 'right horse' } }] });
  return { ...s, web, socks: `127.0.0.1:${s.ports[0]}` };
}

/** The reply to a request: VER REP RSV ATYP ADDR PORT; `rep` undefined if none came. */
async function reply(raw: RawSocks): Promise<{ rep: number | undefined; bytes: Buffer }> {
  const head = await raw.read(4);
  if (head.length < 4) return { rep: head[1], bytes: head };
  const rest = head[3] === 4 ? 16 + 2 : head[3] === 3 ? (await raw.read(1))[0]! + 2 : 4 + 2;
  const tail = await raw.read(rest);
  assert.equal(head[0], SOCKS_VERSION, `reply version: ${head.toString('hex')}`);
  return { rep: head[1], bytes: Buffer.concat([head, tail]) };
}

describe('insel forward -D with curl', () => {
  it("fetches a page by a name only the gateway's DNS knows, and by an IPv4 literal", async (t) => {
    const { socks, web, dns, tg, fw } = await setup(t);
    const byName = await curl(['--socks5-hostname', socks, `http://${NAME}:${web}/by-name`]);
    assert.equal(byName.code, 0, byName.err);
    assert.equal(byName.out, `hello from 127.0.0.1: GET /by-name host ${NAME}:${web}\n`);
    assert.ok((dns.queries.get(NAME) ?? 0) >= 1, `the gateway looked ${NAME} up: ${JSON.stringify([...dns.queries])}`);

    const v4 = await curl(['--socks5-hostname', socks, `http://127.0.0.1:${web}/v4`]);
    assert.equal(v4.code, 0, v4.err);
    assert.equal(v4.out, `hello from 127.0.0.1: GET /v4 host 127.0.0.1:${web}\n`);

    await until(() => tg.logs.filter((l) => l.msg === 'connection' && l.who === 'alice').length >= 2, 'the gateway to log both connections');
    const to = tg.logs.filter((l) => l.msg === 'connection' && l.who === 'alice').map((l) => String(l.to));
    t.diagnostic(`gateway connection lines to: ${to.join(', ')}`);
    assert.deepEqual(to, [`${NAME}:${web}`, `127.0.0.1:${web}`], 'the name reached the gateway as a name');
    assert.deepEqual(fw.warn.filter((l) => /refused|denied/.test(l)), []);
  });

  it('fetches a page by an IPv6 literal', { skip: noIpv6 }, async (t) => {
    const web6 = await httpServer(t, '::1');
    const { socks, tg } = await setup(t);
    const v6 = await curl(['--proxy', `socks5h://${socks}`, `http://[::1]:${web6}/v6`]);
    assert.equal(v6.code, 0, v6.err);
    assert.equal(v6.out, `hello from ::1: GET /v6 host [::1]:${web6}\n`);
    await until(() => tg.logs.some((l) => l.msg === 'connection' && l.who === 'alice'), 'the gateway to log the connection');
    assert.equal(tg.logs.find((l) => l.msg === 'connection' && l.who === 'alice')!.to, `[::1]:${web6}`);
  });

  it("a target the policy denies: reply 0x02, and the forwarder's warn line carries the gateway's reason", async (t) => {
    const { socks, web, tg, fw } = await setup(t);
    const r = await curl(['--socks5-hostname', socks, `http://127.0.0.2:${web}/denied`]);
    t.diagnostic(`curl: ${r.code} ${r.err.trim()}`);
    assert.equal(r.code, CURLE_PROXY, r.err);
    assert.match(r.err, /SOCKS5 connection to 127\.0\.0\.2\. \(2\)/);
    await until(() => tg.logs.some((l) => l.msg === 'denied' && l.who === 'alice'), "the gateway's denial log line");
    const reason = String(tg.logs.find((l) => l.msg === 'denied' && l.who === 'alice')!.reason);
    assert.match(reason, /no policy rule lets user alice connect to tcp 127\.0\.0\.2/);
    await until(() => fw.warn.some((l) => l.includes('refused')), 'the forwarder to print the refusal');
    const line = fw.warn.find((l) => l.includes('refused'))!;
    t.diagnostic(`forwarder: ${line}`);
    assert.match(line, new RegExp(`^-D ${socks.split(':')[1]}: 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.2:${web}: refused \\(reply 0x02 not allowed by ruleset\\): `));
    assert.ok(line.endsWith(reason), `the warn line ends with the gateway's reason (${reason}): ${line}`);
  });

  it('a closed port: reply 0x05 (connection refused)', async (t) => {
    const { socks, fw } = await setup(t);
    const closed = await freePort();
    const r = await curl(['--socks5-hostname', socks, `http://127.0.0.1:${closed}/`]);
    assert.equal(r.code, CURLE_PROXY, r.err);
    assert.match(r.err, /SOCKS5 connection to 127\.0\.0\.1\. \(5\)/);
    await until(() => fw.warn.some((l) => l.includes('refused')), 'the forwarder to print the refusal');
    assert.match(fw.warn.find((l) => l.includes('refused'))!, new RegExp(`-> 127\\.0\\.0\\.1:${closed}: refused \\(reply 0x05`));
  });

  it('RFC 1929: the right user and password pass, a wrong one and none are refused', async (t) => {
    const { ports, web } = await setup(t);
    const authed = `127.0.0.1:${ports[1]}`;
    const right = await curl(['--proxy', `socks5h://sockuser:right%20horse@${authed}`, `http://127.0.0.1:${web}/authed`]);
    assert.equal(right.code, 0, right.err);
    assert.equal(right.out, `hello from 127.0.0.1: GET /authed host 127.0.0.1:${web}\n`);
    const rightU = await curl(['--socks5-hostname', authed, '--proxy-user', 'sockuser:right horse', `http://127.0.0.1:${web}/authed-U`]);
    assert.equal(rightU.code, 0, rightU.err);

    const wrong = await curl(['--proxy', `socks5h://sockuser:wrong@${authed}`, `http://127.0.0.1:${web}/`]);
    t.diagnostic(`wrong password: ${wrong.code} ${wrong.err.trim()}`);
    assert.equal(wrong.code, CURLE_PROXY, wrong.err);
    assert.match(wrong.err, /User was rejected by the SOCKS5 server \(1 1\)/);
    const wrongUser = await curl(['--proxy', `socks5h://other:right%20horse@${authed}`, `http://127.0.0.1:${web}/`]);
    assert.equal(wrongUser.code, CURLE_PROXY, wrongUser.err);
    const none = await curl(['--socks5-hostname', authed, `http://127.0.0.1:${web}/`]);
    t.diagnostic(`no credentials: ${none.code} ${none.err.trim()}`);
    assert.equal(none.code, CURLE_PROXY, none.err);
    assert.match(none.err, /No authentication method was acceptable/);
    // The listener without auth does not ask for it.
    const open = await curl(['--socks5-hostname', `127.0.0.1:${ports[0]}`, `http://127.0.0.1:${web}/open`]);
    assert.equal(open.code, 0, open.err);
  });

  it('BIND and an unknown command get 0x07 (command not supported), then the connection is closed', async (t) => {
    const { ports } = await setup(t);
    for (const command of [Command.BIND, 0x09]) {
      const raw = await rawSocks(t, ports[0]!);
      await greet(raw);
      raw.socket.write(encodeRequest(command, '127.0.0.1', 80));
      const r = await reply(raw);
      assert.equal(r.rep, Reply.COMMAND_NOT_SUPPORTED, `command ${command}: ${r.bytes.toString('hex')}`);
      assert.ok((await raw.closed) < 5000, 'closed after the reply');
    }
  });

  it('a client that never finishes its handshake is closed at the deadline; others are served meanwhile', async (t) => {
    const { ports, socks, web } = await setup(t);
    const silent = await rawSocks(t, ports[0]!); // sends nothing at all
    const halfway = await rawSocks(t, ports[0]!); // greets, then sends part of a request
    await greet(halfway);
    halfway.socket.write(encodeRequest(Command.CONNECT, 'a'.repeat(20), 80).subarray(0, 7)); // the name cut short
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) {
      const r = await curl(['--socks5-hostname', socks, `http://127.0.0.1:${web}/meanwhile-${i}`]);
      assert.equal(r.code, 0, r.err);
    }
    assert.ok(Date.now() - t0 < HANDSHAKE_MS / 2, 'curl was served at once');
    assert.ok(!silent.isClosed() && !halfway.isClosed(), 'the unfinished handshakes are still open before the deadline');
    const [silentMs, halfwayMs] = await Promise.all([silent.closed, halfway.closed]);
    t.diagnostic(`closed after ${silentMs} ms (silent) and ${halfwayMs} ms (halfway)`);
    for (const ms of [silentMs, halfwayMs]) assert.ok(ms >= HANDSHAKE_MS - 1000 && ms <= HANDSHAKE_MS + 3000, `closed at the ${HANDSHAKE_MS} ms deadline, not after ${ms} ms`);
    // The one that reached the request stage is told why: general failure.
    const r = await reply(halfway);
    assert.equal(r.rep, Reply.GENERAL_FAILURE, `halfway got ${r.bytes.toString('hex') || 'nothing'}`);
    assert.equal((await silent.read(1, 0)).length, 0, 'the silent client got no bytes');
  });

  it('malformed greetings, a bad address type and bad domains get their replies; the forwarder keeps serving', async (t) => {
    const { ports, socks, web, fw } = await setup(t);
    const port = ports[0]!;
    /** Sends `bytes` (after a good greeting when `greeted`); resolves with all that came back before the close. */
    const answer = async (bytes: Buffer, greeted: boolean): Promise<Buffer> => {
      const raw = await rawSocks(t, port);
      if (greeted) await greet(raw);
      raw.socket.write(bytes);
      const got = await raw.read(600, 5000); // returns at the close
      assert.ok(raw.isClosed(), `closed after ${bytes.toString('hex')} (got ${got.toString('hex')})`);
      return got;
    };
    const noReplyOr = (got: Buffer, what: string) => assert.ok(got.length === 0 || got.equals(Buffer.of(SOCKS_VERSION, Method.NONE_ACCEPTABLE)), `${what}: got ${got.toString('hex')}`);

    // A SOCKS4 CONNECT, as a client set to socks4:// sends it.
    noReplyOr(await answer(Buffer.of(4, 1, 0, 80, 127, 0, 0, 1, 0), false), 'SOCKS4');
    noReplyOr(await answer(encodeGreeting([]), false), 'no methods');
    // Only methods it does not offer (GSSAPI, a private one): X'FF', then the close (RFC 1928 §3).
    assert.deepEqual(await answer(encodeGreeting([0x01, 0x80]), false), Buffer.of(SOCKS_VERSION, Method.NONE_ACCEPTABLE));

    const request = (tail: Buffer) => Buffer.concat([Buffer.of(SOCKS_VERSION, Command.CONNECT, 0), tail]);
    const repOf = (got: Buffer) => (got.length >= 2 && got[0] === SOCKS_VERSION ? got[1] : undefined);
    assert.equal(repOf(await answer(request(Buffer.of(2, 127, 0, 0, 1, 0, 80)), true)), Reply.ADDRESS_TYPE_NOT_SUPPORTED, 'ATYP 2');
    assert.equal(repOf(await answer(request(Buffer.of(9, 1, 2, 3, 4, 0, 80)), true)), Reply.ADDRESS_TYPE_NOT_SUPPORTED, 'ATYP 9');
    const rsv = encodeRequest(Command.CONNECT, '127.0.0.1', web);
    rsv[2] = 1;
    assert.equal(repOf(await answer(rsv, true)), Reply.GENERAL_FAILURE, 'RSV 1');
    const domain = (name: Buffer) => request(Buffer.concat([Buffer.of(3, name.length), name, Buffer.of(web >> 8, web & 0xff)]));
    for (const [what, name] of [
      ['an empty domain', Buffer.alloc(0)],
      ['a domain with a space', Buffer.from('web socks.test')],
      ['a domain with a NUL', Buffer.from('web\0.socks.test')],
    ] as const) {
      assert.equal(repOf(await answer(domain(name), true)), Reply.GENERAL_FAILURE, what);
    }
    // The longest domain a request can carry (255 bytes), no such name: a refusal, not a hang.
    const long = Buffer.from(Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.'), 'latin1');
    assert.equal(long.length, 255);
    const longRep = repOf(await answer(domain(long), true));
    t.diagnostic(`255-byte domain: reply ${longRep}`);
    assert.ok(longRep !== undefined && longRep !== Reply.SUCCEEDED, `255-byte domain: reply ${longRep}`);

    const r = await curl(['--socks5-hostname', socks, `http://127.0.0.1:${web}/still-serving`]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `hello from 127.0.0.1: GET /still-serving host 127.0.0.1:${web}\n`);
    t.diagnostic(`forwarder warn lines: ${fw.warn.join(' | ')}`);
  });

  it('a refused client that keeps its side open is closed anyway, so refusals cannot pile up sockets', async (t) => {
    const { ports } = await setup(t);
    const s = connect({ port: ports[0]!, host: '127.0.0.1', allowHalfOpen: true });
    s.on('error', () => undefined);
    t.after(() => s.destroy());
    let closed = false;
    s.once('close', () => (closed = true));
    await once(s, 'connect');
    s.write(encodeGreeting([Method.NO_AUTH]));
    s.write(encodeRequest(Command.BIND, '0.0.0.0', 0));
    // Never end our side, keep writing: the forwarder must still let go; a byte then meets a closed socket.
    for (let i = 0; i < 12 && !closed; i++) {
      await new Promise((r) => setTimeout(r, 500));
      if (!s.destroyed) s.write('x');
    }
    assert.equal(closed, true, 'the forwarder closed the connection');
  });

  it('handshake failures anyone can cause are summed into one warn line, not one line each', async (t) => {
    const { ports, fw } = await setup(t);
    for (let i = 0; i < 50; i++) {
      const raw = await rawSocks(t, ports[0]!);
      raw.socket.write(Buffer.of(4, 1, 0, 80, 127, 0, 0, 1, 0)); // SOCKS4: refused
      await raw.closed;
    }
    assert.equal(fw.warn.filter((l) => l.includes('SOCKS')).length, 0, 'nothing per event');
    await fw.close(); // flushes the summary
    const lines = fw.warn.filter((l) => l.includes('SOCKS handshakes failed or refused'));
    assert.equal(lines.length, 1, fw.warn.join('\n'));
    assert.match(lines[0]!, /"failed":50,"sources":1/);
  });
});
