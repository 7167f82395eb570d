// Per-identity UDP limits at the gateway, attacked through real -U forwards:
// UDP flows are counted across all of an identity's channels, and channels
// beyond [limits] udp_channels_per_identity are closed with the reason.
//
//   local sockets ──► Forwarder -U ×2 ══ SecSockets UDP channels ══► Gateway ──► UDP echo
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { makeTestPki } from '../pki/testing.js';
import { parseForwardSpec } from '../forward/spec.js';
import { ALLOW_ALICE_LOOPBACK, profiles, startForwarder, startGateway, until } from '../forward/testing.js';

const LOOP = '127.0.0.1';

async function bound(t: TestContext): Promise<Socket> {
  const s = await new Promise<Socket>((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, LOOP, () => resolve(s));
  });
  t.after(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

/** Gateway with `limits`, a UDP echo, and alice's forwarder with two -U forwards to it. */
async function setup(t: TestContext, limits: string) {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const dirs = profiles(pki, ['srv', 'alice']);
  t.after(() => dirs.cleanup());
  const echo = await bound(t);
  echo.on('message', (m: Buffer, from: RemoteInfo) => echo.send(m, from.port, from.address));
  const gw = await startGateway(dirs.dir, dirs.profile('srv'), ALLOW_ALICE_LOOPBACK, `[limits]\n${limits}\n`);
  t.after(() => gw.close());
  const spec = parseForwardSpec('U', `0:${LOOP}:${echo.address().port}`);
  const fwd = await startForwarder(gw.port, dirs.profile('alice'), [spec, spec]);
  t.after(() => fwd.close());
  return { gw, fwd };
}

/** Sends from `s` to `port` until an answer comes back (a flow is open), at most `ms`. */
async function roundTrip(s: Socket, port: number, ms = 5000): Promise<boolean> {
  let got = false;
  const on = () => void (got = true);
  s.on('message', on);
  const end = Date.now() + ms;
  while (!got && Date.now() < end) {
    s.send('ping', port, LOOP);
    await new Promise((r) => setTimeout(r, 100));
  }
  s.off('message', on);
  return got;
}

test('UDP flows per identity are counted across channels; beyond the limit an OPEN is denied naming the key', async (t) => {
  const { gw, fwd } = await setup(t, 'udp_flows_per_identity = 2');
  const [p1, p2] = fwd.ports as [number, number];
  assert.ok(await roundTrip(await bound(t), p1), 'first flow (channel 1)');
  assert.ok(await roundTrip(await bound(t), p2), 'second flow (channel 2)');
  assert.equal(gw.gw.stats().udp?.flows, 2);
  const third = await bound(t);
  third.send('ping', p1, LOOP);
  await until(() => gw.logs.some((l) => l['msg'] === 'udp flow denied'), 'the third flow to be denied', 5000);
  const reason = String(gw.logs.find((l) => l['msg'] === 'udp flow denied')!['reason']);
  assert.match(reason, /too many UDP flows for user alice: .*\[limits\] udp_flows_per_identity/);
  await until(() => fwd.warn.some((l) => l.includes('udp_flows_per_identity')), 'the forwarder to print the reason', 5000);
  assert.equal(gw.gw.stats().udp?.flows, 2);
});

test('UDP channels per identity: a channel beyond the limit is closed with the reason', async (t) => {
  const { gw, fwd } = await setup(t, 'udp_channels_per_identity = 1');
  await until(() => gw.logs.some((l) => l['msg'] === 'udp forward channel refused'), 'the second channel to be refused', 10_000);
  const line = gw.logs.find((l) => l['msg'] === 'udp forward channel refused')!;
  assert.equal(line['code'], 'INSEL_LIMIT');
  assert.match(String(line['reason']), /\[limits\] udp_channels_per_identity/);
  await until(() => fwd.warn.some((l) => l.includes('closed by the gateway: too many UDP channels for user alice')), 'the forwarder to print the reason', 5000);
  await until(() => gw.gw.stats().udp?.channels === 1, 'one channel left', 5000);
});
