// Policy end to end: a refusal reaches the client with its reason and the
// gateway log; SIGHUP to the gateway process reloads policy and CRL,
// cutting what is no longer permitted (with the reason) and keeping the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { revoke } from '../pki/crl.js';
import { exportProfile } from '../pki/export.js';
import { makeTestPki } from '../pki/testing.js';
import { parseForwardSpec } from './spec.js';
import { echoServer, gatewayToml, insel, profiles, startForwarder, startGateway, until } from './testing.js';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `text`, resolves with the first `text.length` bytes echoed back (or what came before the close). */
function echo(s: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const done = () => {
      s.off('data', onData);
      resolve(got);
    };
    const onData = (b: Buffer) => {
      got += b.toString('utf8');
      if (got.length >= text.length) done();
    };
    s.on('data', onData);
    s.once('close', done);
    s.write(text);
  });
}

const allow = (ports: string) => `[[allow]]\nname = "echo"\nwho = ["user:alice"]\nto = ["127.0.0.1"]\nports = [${ports}]\n`;

test('a denied forward: the client prints the reason, the gateway logs it', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice']);
  const target = await echoServer();
  const tg = await startGateway(p.dir, p.profile('srv'), allow('"1-9"'));
  const fw = await startForwarder(tg.port, p.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${target.port}`)]);
  t.after(async () => {
    await fw.close();
    await tg.close();
    await target.close();
    p.cleanup();
    pki.cleanup();
  });
  const s = await open(fw.ports[0]!);
  await new Promise((r) => s.once('close', r)); // closed after the refusal, never left hanging
  await until(() => fw.warn.some((l) => l.includes('refused')), 'the forwarder to print the refusal');
  const line = fw.warn.find((l) => l.includes('refused'))!;
  assert.match(line, new RegExp(`-L \\d+: 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${target.port}: refused: no policy rule lets user alice connect to tcp 127\\.0\\.0\\.1 port ${target.port}`));
  const logged = tg.logs.find((l) => l.msg === 'denied');
  assert.ok(logged, 'the gateway logged the denial');
  assert.equal(logged.who, 'alice');
  assert.equal(logged.to, `127.0.0.1:${target.port}`);
  assert.equal(logged.code, 'INSEL_POLICY_DENIED');
  assert.match(String(logged.reason), /no policy rule lets user alice/);
});

test('SIGHUP: a policy change cuts the no-longer-permitted connection with a reason, keeps the rest; a CRL change cuts a revoked session', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice', 'carol']);
  const keep = await echoServer();
  const drop = await echoServer();
  const config = join(p.dir, 'gateway.toml');
  const rules = (ports: string) => `${allow(ports)}\n[[allow]]\nwho = ["user:carol", "role:client"]\nto = ["127.0.0.1"]\nports = ["${keep.port}"]\n`;
  writeFileSync(config, gatewayToml(p.profile('srv'), rules(`"${keep.port}", "${drop.port}"`)));
  const gw = insel(['gateway', '--config', config]);
  let fw: Awaited<ReturnType<typeof startForwarder>> | undefined;
  let fc: Awaited<ReturnType<typeof startForwarder>> | undefined;
  t.after(async () => {
    await fw?.close();
    await fc?.close();
    await gw.kill();
    await keep.close();
    await drop.close();
    p.cleanup();
    pki.cleanup();
  });
  const listening = await gw.line(/gateway listening/);
  const port = Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(listening)![1]);
  fw = await startForwarder(port, p.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${keep.port}`), parseForwardSpec('L', `0:127.0.0.1:${drop.port}`)]);
  fc = await startForwarder(port, p.profile('carol'), [parseForwardSpec('L', `0:127.0.0.1:${keep.port}`)]);
  const kept = await open(fw.ports[0]!);
  const cut = await open(fw.ports[1]!);
  const carol = await open(fc.ports[0]!);
  assert.equal(await echo(kept, 'one'), 'one');
  assert.equal(await echo(cut, 'two'), 'two');
  assert.equal(await echo(carol, 'three'), 'three');
  const cutClosed = new Promise((r) => cut.once('close', r));

  // New policy: the drop port is gone.
  writeFileSync(config, gatewayToml(p.profile('srv'), rules(`"${keep.port}"`)));
  gw.proc.kill('SIGHUP');
  await cutClosed;
  await until(() => fw!.warn.some((l) => l.includes('closed by the gateway')), 'the forwarder to print why its connection was cut');
  assert.match(fw.warn.find((l) => l.includes('closed by the gateway'))!, new RegExp(`-> 127\\.0\\.0\\.1:${drop.port}: closed by the gateway: policy reload: no policy rule lets user alice connect to tcp 127\\.0\\.0\\.1 port ${drop.port}`));
  await gw.line(/"msg":"reloaded"/);
  assert.match(gw.out.find((l) => l.includes('"msg":"reloaded"'))!, /"forwards":1/);
  assert.equal(await echo(kept, 'still here'), 'still here');
  assert.equal(await echo(carol, 'me too'), 'me too');

  // Revoke carol, re-export the gateway's CRL, SIGHUP: her session goes, alice's stays.
  await revoke({ dir: pki.dir, nameOrSerial: 'carol', reason: 'keyCompromise' });
  exportProfile({ dir: pki.dir, name: 'srv', out: p.profile('srv'), force: true });
  const carolClosed = new Promise((r) => carol.once('close', r));
  gw.proc.kill('SIGHUP');
  await carolClosed;
  await until(() => fc!.warn.some((l) => /revoked/.test(l)), "carol's forwarder to print that her certificate is revoked").catch((err: Error) => {
    throw new Error(`${err.message}; it printed: ${fc!.warn.join(' / ')}; gateway: ${gw.out.slice(-5).join(' / ')}`);
  });
  assert.match(fc.warn.join('\n'), /certificate is no longer accepted: .*revoked/);
  assert.equal(await echo(kept, 'and still'), 'and still');
  kept.destroy();
});

test('SIGHUP with a broken config keeps the old policy and says why', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice']);
  const target = await echoServer();
  const config = join(p.dir, 'gateway.toml');
  writeFileSync(config, gatewayToml(p.profile('srv'), allow(`"${target.port}"`)));
  const gw = insel(['gateway', '--config', config]);
  let fw: Awaited<ReturnType<typeof startForwarder>> | undefined;
  t.after(async () => {
    await fw?.close();
    await gw.kill();
    await target.close();
    p.cleanup();
    pki.cleanup();
  });
  const port = Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(await gw.line(/gateway listening/))![1]);
  writeFileSync(config, `${gatewayToml(p.profile('srv'), allow('"not-a-port"'))}`);
  gw.proc.kill('SIGHUP');
  const err = await gw.line(/reload failed/);
  assert.match(err, /allow\[0\]\.ports\[0\]/);
  fw = await startForwarder(port, p.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${target.port}`)]);
  const s = await open(fw.ports[0]!);
  assert.equal(await echo(s, 'old policy holds'), 'old policy holds');
  s.destroy();
});

test('reload cuts an HTTP/1.1 CONNECT tunnel the new policy refuses', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice']);
  const target = await echoServer();
  const tg = await startGateway(p.dir, p.profile('srv'), allow(`"${target.port}"`));
  t.after(async () => {
    await tg.close();
    await target.close();
    p.cleanup();
    pki.cleanup();
  });
  const id = readIdentityFiles(profileFiles(p.profile('alice')));
  const s = tlsConnect({ host: '127.0.0.1', port: tg.port, key: id.key, cert: id.cert, ca: id.ca, ALPNProtocols: ['http/1.1'] });
  s.on('error', () => undefined);
  await new Promise((r) => s.once('secureConnect', r));
  let got = '';
  s.on('data', (b: Buffer) => (got += b.toString()));
  s.write(`CONNECT 127.0.0.1:${target.port} HTTP/1.1\r\nHost: 127.0.0.1:${target.port}\r\n\r\n`);
  await until(() => got.includes('\r\n\r\n'), 'the CONNECT answer');
  assert.match(got, /^HTTP\/1\.1 200/);
  s.write('ping');
  await until(() => got.endsWith('ping'), 'the echo through the tunnel');
  const closed = new Promise((r) => s.once('close', r));
  assert.equal(tg.reload(allow('"1"')).forwards, 1);
  await closed;
  await until(() => tg.logs.some((l) => l.msg === 'connection' && l.kind === 'http1-connect' && String(l.end).startsWith('policy reload')), 'the cut tunnel logged with its reason');
});

test('optimistic open, refused: a window of bytes sent before the answer is dropped, and the session serves the next forward', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice']);
  const denied = await echoServer();
  const allowed = await echoServer();
  const tg = await startGateway(p.dir, p.profile('srv'), allow(`"${allowed.port}"`));
  const fw = await startForwarder(tg.port, p.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${denied.port}`), parseForwardSpec('L', `0:127.0.0.1:${allowed.port}`)]);
  t.after(async () => {
    await fw.close();
    await tg.close();
    await denied.close();
    await allowed.close();
    p.cleanup();
    pki.cleanup();
  });
  const s = await open(fw.ports[0]!);
  s.on('error', () => undefined);
  s.write(Buffer.alloc(128 * 1024, 0x61)); // the initial window, sent with the OPEN
  await new Promise((r) => s.once('close', r));
  await until(() => fw.warn.some((l) => l.includes('refused')), 'the forwarder to print the refusal');
  assert.equal(await echo(await open(fw.ports[1]!), 'still here'), 'still here');
  assert.equal(tg.logs.filter((l) => l.msg === 'session ended').length, 0, 'the session was not ended over the dropped bytes');
});
