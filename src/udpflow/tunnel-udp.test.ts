// -U through the Forwarder (the CLI's path), gateway and forwarder in this
// process:
//
//   one local socket ──► Forwarder -U ══ SecSockets UDP channel ══► Gateway ──► UDP echo
//   (127.0.0.1:*)        (127.0.0.1:fwd)   (alice → srv)              (policy)    (127.0.0.1:echo)
//
// 10,000 sequenced datagrams paced in windows come back complete; a UDP
// destination the policy does not allow is refused with the gateway's
// reason on the forwarder's warn lines. The UDP components alone are tested
// in udp-forward.test.ts. Every wait has a deadline; everything is closed
// in t.after.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { parseForwardSpec } from '../forward/spec.js';
import { ALLOW_ALICE_LOOPBACK, profiles, startForwarder, startGateway, until } from '../forward/testing.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

const LOOP = '127.0.0.1';

function bound(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    s.once('error', reject);
    s.bind(0, LOOP, () => resolve(s));
  });
}

/** A UDP echo server counting what it got. */
async function udpEcho(t: TestContext) {
  const s = await bound();
  let received = 0;
  s.on('message', (m: Buffer, from: RemoteInfo) => {
    received++;
    s.send(m, from.port, from.address);
  });
  t.after(() => new Promise<void>((r) => s.close(() => r())));
  return { port: s.address().port, received: () => received };
}

/** Gateway (with `rules`) and a forwarder with one -U to the echo server. */
async function setup(t: TestContext, rules: string, echoPort: number) {
  const dirs = profiles(pki, ['srv', 'alice']);
  t.after(() => dirs.cleanup());
  const gw = await startGateway(dirs.dir, dirs.profile('srv'), rules);
  t.after(() => gw.close());
  const fwd = await startForwarder(gw.port, dirs.profile('alice'), [parseForwardSpec('U', `0:${LOOP}:${echoPort}`)]);
  t.after(() => fwd.close());
  return { gw, fwd, port: fwd.ports[0]! };
}

describe('insel forward -U through a gateway', () => {
  it('echoes 10,000 sequenced datagrams from one socket, paced in windows of 64', async (t) => {
    const echo = await udpEcho(t);
    const { gw, fwd, port } = await setup(t, ALLOW_ALICE_LOOPBACK, echo.port);
    assert.ok(fwd.info.includes(`forward -U ${LOOP}:${port} -> ${LOOP}:${echo.port}`), fwd.info.join('\n'));
    const client = await bound();
    t.after(() => new Promise<void>((r) => client.close(() => r())));

    const N = 10_000;
    const WINDOW = 64;
    const pool = randomBytes(1200);
    const datagram = (i: number) => {
      const b = Buffer.from(pool.subarray(0, 8 + ((i * 7919) % 1193)));
      b.writeUInt32BE(i, 0);
      return b;
    };
    const pending = new Map<number, Buffer>();
    let echoed = 0;
    let corrupt = 0;
    let windowDone: () => void = () => undefined;
    client.on('message', (m: Buffer) => {
      const seq = m.readUInt32BE(0);
      const sent = pending.get(seq);
      if (sent === undefined) return; // late, or a duplicate
      if (!sent.equals(m)) corrupt++;
      pending.delete(seq);
      echoed++;
      if (pending.size === 0) windowDone();
    });
    // The first datagram goes alone: until the gateway answers OPENED a new
    // flow holds only a few datagrams, by design (udpflow/local.ts).
    let lost = 0;
    const t0 = Date.now();
    for (let base = 0; base < N; base += base === 0 ? 1 : WINDOW) {
      const done = new Promise<void>((r) => (windowDone = r));
      let timer: NodeJS.Timeout | undefined;
      for (let i = base; i < Math.min(base === 0 ? 1 : base + WINDOW, N); i++) {
        const d = datagram(i);
        pending.set(i, d);
        client.send(d, port, LOOP);
      }
      await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
      lost += pending.size;
      pending.clear();
    }
    const ms = Date.now() - t0;
    t.diagnostic(`sent ${N}, echoed ${echoed}, lost ${lost} (${((100 * lost) / N).toFixed(2)} %), corrupt ${corrupt}, ${ms} ms, ${Math.round((N * 1000) / ms)} round trips/s`);
    t.diagnostic(`gateway udp ${JSON.stringify(gw.gw.stats().udp)}`);
    assert.equal(corrupt, 0);
    assert.equal(lost, 0, 'no loss on loopback');
    assert.equal(echoed, N);
    assert.equal(echo.received(), N);
    assert.equal(gw.gw.stats().udp?.flows, 1, 'one source socket, one flow');
    assert.deepEqual(fwd.warn.filter((l) => /denied|refused/i.test(l)), []);
  });

  it("refuses a UDP destination the policy does not allow, with the gateway's reason on the warn lines", async (t) => {
    const echo = await udpEcho(t);
    const otherPort = echo.port === 9 ? 10 : 9;
    const rules = `[[allow]]\nname = "alice udp elsewhere"\nwho = ["user:alice"]\nto = ["127.0.0.1"]\nports = ["${otherPort}"]\nproto = ["udp"]\n`;
    const { gw, fwd, port } = await setup(t, rules, echo.port);
    const client = await bound();
    t.after(() => new Promise<void>((r) => client.close(() => r())));
    client.send('knock', port, LOOP);
    await until(() => fwd.warn.some((l) => l.includes('denied by the gateway')), 'a denial on the warn lines', 5000);
    await until(() => gw.logs.some((l) => l.msg === 'udp flow denied'), "the gateway's denial log line", 5000);
    const reason = String(gw.logs.find((l) => l.msg === 'udp flow denied')!.reason);
    const line = fwd.warn.find((l) => l.includes('denied by the gateway'))!;
    t.diagnostic(`forwarder: ${line}`);
    assert.ok(reason.length > 0);
    assert.ok(line.includes(reason), `the warn line carries the gateway's reason (${reason}): ${line}`);
    assert.match(line, new RegExp(`^-U 0:${LOOP}:${echo.port}: `));
    assert.equal(echo.received(), 0, 'nothing reached the target');
  });
});
