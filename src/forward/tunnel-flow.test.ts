// Per-stream flow control over one gateway session (gateway and forwarder
// in this process):
//
//   stalled writer ──► -L a ══╗                  ╔══► sink (accepts, never reads)
//                             ║ one TLS/insel/1  ║
//   8 MiB echo     ──► -L b ══╝ session          ╚══► echo server
//
// The writer into the stalled connection must be stopped by backpressure
// (write() === false, no more 'drain') after a bounded number of bytes, and
// memory must not grow with what it tries to send; meanwhile the other
// connection through the same session moves 8 MiB both ways. Many more
// connections then cost no new TLS session. Then many 1 MiB echoes at once,
// both directions at full speed over one session (the case that deadlocked
// HTTP/2). Every wait has a deadline; everything is closed in t.after.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { parseForwardSpec } from './spec.js';
import { ALLOW_ALICE_LOOPBACK, echoServer, profiles, startForwarder, startGateway, tcpServer, until } from './testing.js';
import { transfer } from './tunnel-testing.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

const MiB = 1 << 20;
/** What the stalled writer may get accepted: kernel buffers on three sockets, node's stream buffers and one 1 MiB stream window are far below it. */
const STALL_BOUND = 64 * MiB;
/** The writer gives up here: a broken flow control would take it this far. */
const WRITE_CAP = 256 * MiB;
/** No 'drain' for this long means the writer is held back. */
const NO_DRAIN_MS = 2000;

/** Garbage collection on demand, so memory figures are what is held, not what awaits collection. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Bytes in buffers (ArrayBuffers and other memory outside the JS heap) plus the JS heap, after a collection. */
function heldBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Writes 64 KiB chunks while 'drain' keeps coming; resolves with the bytes write() accepted. */
async function writeUntilHeld(s: Socket): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let accepted = 0;
  while (accepted < WRITE_CAP) {
    accepted += chunk.length;
    if (s.write(chunk)) continue;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      once(s, 'drain').then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), NO_DRAIN_MS))),
    ]);
    clearTimeout(timer);
    if (!drained) break;
  }
  return accepted;
}

describe('flow control over one gateway session', () => {
  it('holds back a writer into a stalled reader while another connection moves 8 MiB both ways', async (t) => {
    const dirs = profiles(pki, ['srv', 'alice']);
    const sink = await tcpServer(() => undefined); // accepts; never reads
    const echo = await echoServer();
    const gw = await startGateway(dirs.dir, dirs.profile('srv'), ALLOW_ALICE_LOOPBACK);
    const fwd = await startForwarder(gw.port, dirs.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${sink.port}`), parseForwardSpec('L', `0:127.0.0.1:${echo.port}`)]);
    const writer = connect({ port: fwd.ports[0], host: '127.0.0.1' });
    writer.on('error', () => undefined);
    t.after(async () => {
      writer.destroy();
      await fwd.close();
      await gw.close();
      await sink.close();
      await echo.close();
      dirs.cleanup();
    });
    await fwd.f.whenUp();
    const session = fwd.f.session;
    await once(writer, 'connect');

    const before = heldBytes();
    const accepted = await writeUntilHeld(writer);
    const held = heldBytes();
    t.diagnostic(`stalled connection: write() accepted ${(accepted / MiB).toFixed(1)} MiB before 'drain' stopped; memory held ${((held - before) / MiB).toFixed(1)} MiB more than before`);
    assert.ok(accepted < STALL_BOUND, `the writer was not held back: ${accepted} bytes accepted`);
    assert.ok(sink.server.listening);

    // The same session still carries other connections at full speed.
    const r = await transfer(fwd.ports[1], 8 * MiB, 1, 60_000);
    assert.equal(r.sent, 8 * MiB);
    assert.equal(r.received, 8 * MiB);
    assert.equal(r.receivedHash, r.sentHash);
    assert.equal(writer.writableNeedDrain, true, 'the stalled connection is still held back');
    const more = await writeUntilHeld(writer);
    assert.ok(accepted + more < STALL_BOUND, `the writer got going again: ${more} more bytes accepted`);

    const after = heldBytes();
    t.diagnostic(`after 8 MiB each way beside it: memory held ${((after - before) / MiB).toFixed(1)} MiB more than before the stall (gateway and forwarder both live in this process)`);
    assert.ok(after - before < STALL_BOUND, `memory grew by ${after - before} bytes`);

    // More connections: streams of the same session, no new TLS session.
    const N = 50;
    for (let i = 0; i < N; i++) {
      const small = await transfer(fwd.ports[1], 64 * 1024, 100 + i, 10_000);
      assert.equal(small.receivedHash, small.sentHash, `connection ${i}`);
    }
    assert.equal(fwd.f.session, session, 'the forwarder kept its one session');
    await until(() => gw.logs.filter((l) => l.msg === 'connection').length >= N + 1, "the gateway's connection lines");
    const sessions = gw.logs.filter((l) => l.msg === 'session');
    t.diagnostic(`gateway: ${sessions.length} session line(s), ${gw.logs.filter((l) => l.msg === 'connection').length} connection lines`);
    assert.equal(sessions.length, 1, 'one TLS session for every forwarded connection');
    assert.equal(gw.gw.stats().sessions, 1);
  });

  it('carries many concurrent 1 MiB echoes both ways at full speed over one session', async (t) => {
    const dirs = profiles(pki, ['srv', 'alice']);
    const echo = await echoServer();
    const gw = await startGateway(dirs.dir, dirs.profile('srv'), ALLOW_ALICE_LOOPBACK);
    const fwd = await startForwarder(gw.port, dirs.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${echo.port}`)]);
    t.after(async () => {
      await fwd.close();
      await gw.close();
      await echo.close();
      dirs.cleanup();
    });
    await fwd.f.whenUp();
    const session = fwd.f.session;
    const N = 48;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => transfer(fwd.ports[0]!, MiB, 1000 + i, 120_000)));
    for (const [i, r] of results.entries()) {
      assert.equal(r.received, MiB, `echo ${i}`);
      assert.equal(r.receivedHash, r.sentHash, `echo ${i}`);
    }
    assert.equal(fwd.f.session, session, 'all over the one session');
    assert.equal(gw.logs.filter((l) => l.msg === 'session').length, 1);
  });
});
