// Bad input never crashes anything and always gets a message a user can
// act on: malformed forward specs and flags, an unknown host, an
// unreachable target, a port in use, garbage at the gateway's port, garbage
// frames from a verified insel/1 client.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { makeTestPki } from '../pki/testing.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { rawMux } from './mux-testing.js';
import { parseForwardSpec } from './spec.js';
import { ALLOW_ALICE_LOOPBACK, echoServer, insel, profiles, startForwarder, startGateway, until } from './testing.js';

/** Runs the CLI to its exit; returns exit code and stderr. */
async function run(args: string[]): Promise<{ code: number | null; err: string }> {
  const c = insel(args);
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 15_000);
  const code = await c.exited;
  clearTimeout(t);
  await new Promise((r) => setImmediate(r));
  return { code, err: c.err.join('\n') };
}

test('malformed forward specs and flags: exit 1 with a message naming the spec', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['alice']);
  t.after(() => {
    p.cleanup();
    pki.cleanup();
  });
  const base = ['forward', '--via', '127.0.0.1:1', '--profile', p.profile('alice')];
  for (const [flag, spec, expect] of [
    ['-L', '80:web', /-L "80:web": expected \[bind:\]port:host:hostport/],
    ['-L', 'x:web:80', /-L "x:web:80"/],
    ['-L', '8080:web:0', /-L "8080:web:0"/],
    ['-L', '8080:web:70000', /-L "8080:web:70000"/],
    ['-U', '53:bad host:53', /-U "53:bad host:53"/],
    ['-R', '::1:80:h:80', /-R "::1:80:h:80".*bracket/],
  ] as const) {
    const r = await run([...base, flag, spec]);
    assert.equal(r.code, 1, `${flag} ${spec} must fail`);
    assert.match(r.err, expect);
    assert.doesNotMatch(r.err, /at .*\.js:\d+/, 'no stack trace');
  }
  assert.match((await run(['forward', '-L', '1:a:2', '--profile', p.profile('alice')])).err, /--via HOST:PORT/);
  assert.match((await run(['forward', '--via', 'gw', '-L', '1:a:2', '--profile', p.profile('alice')])).err, /--via "gw"/);
  assert.match((await run(['forward', '--via', 'gw:1', '-L', '1:a:2'])).err, /--profile DIR/);
  assert.match((await run(['forward', '--via', 'gw:1', '-L', '1:a:2', '--profile', '/nonexistent'])).err, /\/nonexistent\/cert\.pem/);
  assert.match((await run(['forward', '--config', '/nonexistent/forwards.toml'])).err, /\/nonexistent\/forwards\.toml/);
  assert.match((await run(['gateway', '--config', '/nonexistent/gateway.toml'])).err, /\/nonexistent\/gateway\.toml/);
  // Gateway down at start (flags mode): a clear error, not a hang.
  const down = await run([...base, '-L', '0:127.0.0.1:9']);
  assert.equal(down.code, 1);
  assert.match(down.err, /cannot reach gateway 127\.0\.0\.1:1: connection refused/);
});

test('unknown host, unreachable target, port in use: the client is told exactly that', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice']);
  const rules = `${ALLOW_ALICE_LOOPBACK}\n[[allow]]\nwho = ["user:alice"]\nto = ["*.example.invalid"]\nports = ["*"]\n`;
  const tg = await startGateway(p.dir, p.profile('srv'), rules);
  // A port with nothing behind it: bind, note, close.
  const dead: Server = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
  const deadPort = (dead.address() as { port: number }).port;
  await new Promise((r) => dead.close(r));
  const fw = await startForwarder(tg.port, p.profile('alice'), [parseForwardSpec('L', '0:no-such-host.example.invalid:80'), parseForwardSpec('L', `0:127.0.0.1:${deadPort}`)]);
  t.after(async () => {
    await fw.close();
    await tg.close();
    p.cleanup();
    pki.cleanup();
  });
  for (const port of fw.ports) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('close', r));
  }
  await until(() => fw.warn.length >= 2, 'both refusals printed');
  assert.match(fw.warn.join('\n'), /no-such-host\.example\.invalid:80: refused: unknown host no-such-host\.example\.invalid: the gateway cannot resolve it/);
  assert.match(fw.warn.join('\n'), new RegExp(`127\\.0\\.0\\.1:${deadPort}: refused: the gateway could not reach 127\\.0\\.0\\.1:${deadPort}: connection refused`));

  // The same local port twice: the second forward fails with the port named.
  await assert.rejects(startForwarder(tg.port, p.profile('alice'), [parseForwardSpec('L', `${fw.ports[0]}:127.0.0.1:80`)]), (err: Error) => {
    assert.match(err.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${fw.ports[0]} for -L ${fw.ports[0]}:127\\.0\\.0\\.1:80: the port is already in use`));
    return true;
  });
});

/** A forward from `profile` through the gateway at `port` still echoes through to `target`. */
async function stillServes(port: number, profile: string, target: number): Promise<void> {
  const fw = await startForwarder(port, profile, [parseForwardSpec('L', `0:127.0.0.1:${target}`)]);
  try {
    const s = connect({ host: '127.0.0.1', port: fw.ports[0]! });
    const back = await new Promise<string>((resolve) => {
      s.once('data', (b: Buffer) => resolve(b.toString()));
      s.write('still serving');
    });
    assert.equal(back, 'still serving');
    s.destroy();
  } finally {
    await fw.close();
  }
}

/** A gateway for srv letting alice reach an echo server on loopback, all closed after `t`. */
async function gatewayWithEcho(t: TestContext) {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice']);
  const target = await echoServer();
  const tg = await startGateway(p.dir, p.profile('srv'), ALLOW_ALICE_LOOPBACK);
  t.after(async () => {
    await tg.close();
    await target.close();
    p.cleanup();
    pki.cleanup();
  });
  return { p, target, tg };
}

test('garbage at the gateway port: that connection closes, the gateway serves on', async (t) => {
  const { p, target, tg } = await gatewayWithEcho(t);
  const junk = [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.alloc(5000, 0xff), Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3]), Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')];
  for (const bytes of junk) {
    const s = connect({ host: '127.0.0.1', port: tg.port });
    s.on('error', () => undefined);
    s.resume(); // read the TLS alert, or 'close' never comes
    s.once('connect', () => s.end(bytes)); // then EOF: a half record must not wait for the handshake timeout
    await new Promise((r) => s.once('close', r));
  }
  // A TLS client without a certificate gets its refusal too.
  const anon = tlsConnect({ host: '127.0.0.1', port: tg.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  anon.on('error', () => undefined);
  let answer = '';
  anon.on('data', (b: Buffer) => (answer += b.toString()));
  anon.once('secureConnect', () => anon.write('CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n'));
  await new Promise((r) => anon.once('close', r));
  assert.match(answer, /^HTTP\/1\.1 403[\s\S]*presented no certificate/);
  await until(() => tg.gw.stats().tlsFailures >= 3, `TLS failures to be counted (${tg.gw.stats().tlsFailures})`);
  await stillServes(tg.port, p.profile('alice'), target.port);
});

test('garbage over insel/1 from a verified client: its session ends with the reason, the gateway serves on', async (t) => {
  const { p, target, tg } = await gatewayWithEcho(t);
  const alice = readIdentityFiles(profileFiles(p.profile('alice')));
  // An unknown frame type, a frame longer than any payload, a stream id the client never opened, half a header.
  const junk = [Buffer.from([9, 0, 0, 0, 0, 1, 0, 0, 0, 0]), Buffer.from([0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]), Buffer.from([3, 0, 0, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0, 1]), Buffer.from([1, 0, 0])];
  for (const bytes of junk.slice(0, 3)) {
    const c = await rawMux(tg.port, alice);
    c.socket.write(bytes);
    assert.match(await c.closed, /GOAWAY|closed/, 'the gateway closed the session');
  }
  await until(() => tg.logs.filter((l) => l.msg === 'session ended' && /protocol error/.test(String(l.reason))).length >= 3, 'three sessions ended with a protocol error');
  // Half a frame header, then nothing: the session stays (it is a stream, the rest may come) until the client goes.
  const half = await rawMux(tg.port, alice);
  half.socket.write(junk[3]!);
  half.mux.destroy();
  await stillServes(tg.port, p.profile('alice'), target.port);
});
