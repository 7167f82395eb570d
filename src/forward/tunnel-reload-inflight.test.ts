// A reload that lands while a request is mid-authorize or mid-dial: the
// request must get the new policy's verdict, not the one it started with.
// The fake DNS server (dns-testing.ts) holds the answer for slow.test back,
// so the gateway is still resolving when the reload comes:
//
//   client ══ HTTP/2 / HTTP/1.1 ══▶ gateway ──c-ares──▶ fake DNS (answers after DELAY_MS)
//                                       ▲ reload: alice's rules gone
//
// Each case fails if the gateway acts on the verdict it had before the reload.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { makeTestPki } from '../pki/testing.js';
import { fakeDns } from './dns-testing.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { ForwardSession, GatewayRefusedError } from './session.js';
import { echoServer, outcome, profiles, startGateway, until } from './testing.js';

const SLOW = 'slow.test';
const DELAY_MS = 1500;

const allowAlice = (port: number) => `
[[allow]]
name = "alice to slow.test"
who = ["user:alice"]
to = ["${SLOW}"]
ports = ["${port}"]

[[allow]]
name = "alice listens on slow.test"
who = ["user:alice"]
to = ["${SLOW}"]
ports = ["*"]
action = "listen"
`;
/** The new policy: someone else's rule only. */
const NOBODY = `
[[allow]]
who = ["user:bob"]
to = ["127.0.0.1"]
ports = ["1"]
`;

async function setup(t: TestContext, port: number) {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const p = profiles(pki, ['srv', 'alice']);
  t.after(() => p.cleanup());
  const dns = await fakeDns({ [SLOW]: '127.0.0.1' }, () => false, (name) => (name === SLOW ? DELAY_MS : 0));
  t.after(() => dns.close());
  const tg = await startGateway(p.dir, p.profile('srv'), allowAlice(port), `[dns]\nservers = ["${dns.server}"]\ntimeout = "5s"\nhosts_file = ""\n`);
  t.after(() => tg.close());
  const alice = readIdentityFiles(profileFiles(p.profile('alice')));
  /** Reloads with NOBODY once the gateway is asking the DNS server about slow.test. */
  const reloadDuringLookup = async () => {
    await until(() => (dns.queries.get(SLOW) ?? 0) > 0, 'the gateway asks for slow.test', 5000);
    tg.reload(NOBODY);
  };
  return { tg, alice, reloadDuringLookup };
}

function assertReloadRefused(r: 'ok' | GatewayRefusedError): void {
  assert.ok(r instanceof GatewayRefusedError, 'the gateway acted on the verdict it had before the reload');
  assert.equal(r.code, 'INSEL_POLICY_DENIED');
  assert.match(r.message, /policy reload: no policy rule lets user alice/);
}

test('an HTTP/2 CONNECT resolving during a reload gets the new policy', async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const { tg, alice, reloadDuringLookup } = await setup(t, echo.port);
  const s = await ForwardSession.open({ via: { host: '127.0.0.1', port: tg.port }, identity: alice, timeoutMs: 20_000 });
  t.after(() => s.close());
  const pending = outcome(s.connect(SLOW, echo.port));
  await reloadDuringLookup();
  assertReloadRefused(await pending);
  await until(() => tg.logs.some((l) => l.msg === 'denied' && String(l.reason).startsWith('policy reload')), 'the late refusal logged');
});

test('a remote listen authorized during a reload gets the new policy', async (t) => {
  const { tg, alice, reloadDuringLookup } = await setup(t, 1);
  const s = await ForwardSession.open({ via: { host: '127.0.0.1', port: tg.port }, identity: alice, timeoutMs: 20_000 });
  t.after(() => s.close());
  const pending = outcome(s.listen({ 'insel-bind': `${SLOW}:0`, 'insel-to': 'localhost:1' }));
  await reloadDuringLookup();
  assertReloadRefused(await pending);
  assert.equal(tg.gw.stats().forwards, 0);
});

/** Sends one HTTP/1.1 request to the gateway as alice and returns the whole answer. */
async function http1(t: TestContext, port: number, alice: { key: string; cert: string; ca: string }, request: string, reload: () => Promise<void>): Promise<string> {
  const s = tlsConnect({ host: '127.0.0.1', port, key: alice.key, cert: alice.cert, ca: alice.ca, ALPNProtocols: ['http/1.1'], servername: 'localhost' });
  t.after(() => s.destroy());
  s.on('error', () => undefined);
  await new Promise((r) => s.once('secureConnect', r));
  let got = '';
  s.on('data', (b: Buffer) => (got += b.toString()));
  s.write(request);
  await reload();
  await until(() => got.includes('\r\n\r\n'), 'the answer');
  s.destroy(); // a tunnel wrongly opened ends here, not at the targets' close
  return got;
}

test('an HTTP/1.1 CONNECT resolving during a reload gets the new policy', async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const { tg, alice, reloadDuringLookup } = await setup(t, echo.port);
  const got = await http1(t, tg.port, alice, `CONNECT ${SLOW}:${echo.port} HTTP/1.1\r\nHost: ${SLOW}:${echo.port}\r\n\r\n`, reloadDuringLookup);
  assert.match(got, /^HTTP\/1\.1 403/, got);
  assert.match(got, /policy reload: no policy rule lets user alice/);
});

test('an HTTP/1.1 proxy request resolving during a reload gets the new policy', async (t) => {
  const web = createHttpServer((_req, res) => res.end('secret page'));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => web.close(() => r())));
  const port = (web.address() as { port: number }).port;
  const { tg, alice, reloadDuringLookup } = await setup(t, port);
  const got = await http1(t, tg.port, alice, `GET http://${SLOW}:${port}/ HTTP/1.1\r\nHost: ${SLOW}:${port}\r\nConnection: close\r\n\r\n`, reloadDuringLookup);
  assert.match(got, /^HTTP\/1\.1 403/, got);
  assert.doesNotMatch(got, /secret page/);
});
