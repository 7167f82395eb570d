// The datagram session on an in-memory network with a manual clock: the wire
// format is the old codec's both ways, replays and stale epochs are dropped,
// rekeys (forced, by count, by time) lose nothing, a roaming client is
// followed and a forger is not, keepalives hold and silence kills, and the
// send pool never reuses a buffer the socket still holds. No sleeps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Opener, Sealer } from './aead.js';
import { DGRAM_HEADER_SIZE, FLAG_COMPRESSED, InnerKind, PREVIOUS_EPOCH_GRACE_MS } from './constants.js';
import { decodeHeader, decodeInner, writeHeader, writeInner } from './datagram.js';
import { MAX_HEAD, SEND_QUEUE_PACKETS } from './datagram-session.js';
import { KeyChain } from './keys.js';
import type { MemorySocket } from './memory-net.js';
import { LIMITS, sessionPair, TICK_MS } from './session-testing.js';

const text = (b: Buffer[]) => b.map((x) => x.toString());

/** Lets `ms` pass tick by tick, delivering what each tick sends (keepalives). */
async function elapse(p: Awaited<ReturnType<typeof sessionPair>>, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += TICK_MS) {
    p.clock.advance(TICK_MS);
    await p.net.settle();
  }
}

/** Every datagram the network carries from now on, as sent. */
function capture(p: Awaited<ReturnType<typeof sessionPair>>): Buffer[] {
  const seen: Buffer[] = [];
  p.net.filter = (d) => (seen.push(Buffer.from(d)), d);
  return seen;
}

describe('datagram session', () => {
  it('seals what the stand-alone codec (decodeHeader, Opener) opens, and opens a datagram built by hand with it (native AEAD both ways; node:crypto agreement is native/aead.test.ts)', async () => {
    const p = await sessionPair();
    const seen = capture(p);
    assert.ok(p.client.sendPacket(Buffer.from('payload'), Buffer.from([1, 2, 3])));
    await p.net.settle();
    const d = seen[0]!;
    const h = decodeHeader(d, { type: 0, epoch: 0, channelId: 0, counter: 0 });
    assert.deepEqual({ ...h }, { type: 1, epoch: 0, channelId: 7, counter: 1 }, 'counter 0 went to the hello');
    const opener = new Opener('aes-256-gcm', 'private', new KeyChain('sha256', Buffer.from(p.c2s)).next());
    const inner = decodeInner(opener.open(d, DGRAM_HEADER_SIZE, h.counter)!);
    assert.equal(inner.kind, InnerKind.DATA);
    assert.deepEqual([...inner.body], [1, 2, 3, ...Buffer.from('payload')]);

    // The other way: a datagram built by hand with the codec, as the C data plane would.
    const keys = new KeyChain('sha256', Buffer.from(p.s2c)).next();
    const out = Buffer.alloc(100);
    writeHeader(out, keys.epoch, 7, 42);
    const prefix = Buffer.alloc(2);
    writeInner(prefix, 0, InnerKind.DATA, 0);
    const len = new Sealer('aes-256-gcm', 'private', keys).seal(out, DGRAM_HEADER_SIZE, prefix, prefix.length, Buffer.from('by hand'), 42);
    (p.clientEp as unknown as { socket: MemorySocket }).socket.onDatagram(out.subarray(0, len), { address: '10.0.0.1', port: 4500 });
    assert.deepEqual(text(p.atClient.packets), ['by hand']);
  });

  it('delivers DATA and FRAGMENT packets to the sink; refuses a head over MAX_HEAD and a body over room', async () => {
    const p = await sessionPair();
    assert.ok(p.client.sendPacket(Buffer.from('one')));
    assert.ok(p.client.sendFragment(0, 9, 1, 3, Buffer.from('frag')));
    assert.equal(p.client.sendPacket(Buffer.alloc(1), Buffer.alloc(MAX_HEAD + 1)), false);
    assert.equal(p.client.sendPacket(Buffer.alloc(p.client.room + 1)), false);
    assert.ok(p.client.sendPacket(Buffer.alloc(p.client.room)));
    await p.net.settle();
    assert.deepEqual(text(p.atServer.packets.slice(0, 1)), ['one']);
    assert.equal(p.atServer.packets[1]!.length, p.client.room);
    assert.deepEqual(p.atServer.fragments.map((f) => [f.msgId, f.index, f.count, f.body.toString()]), [[9, 1, 3, 'frag']]);
  });

  it('drops replays, too-old counters and forgeries, counted, and changes no state for them', async () => {
    const p = await sessionPair();
    const seen = capture(p);
    for (let i = 0; i < 3; i++) p.client.sendPacket(Buffer.from(`m${i}`));
    await p.net.settle();
    p.net.filter = undefined;
    const [first] = seen;
    const deliver = (d: Buffer, from = { address: '10.0.0.2', port: p.clientEp.port }) => (p.serverEp as unknown as { socket: MemorySocket }).socket.onDatagram(d, from);
    deliver(first!);
    const forged = Buffer.from(first!);
    forged[forged.length - 1]! ^= 1; // a seen counter: refused before the AEAD is even tried
    const ahead = Buffer.from(first!);
    ahead[13] = 200; // a counter ahead: fails authentication, so it cannot move the window or the peer
    deliver(forged, { address: '10.6.6.6', port: 666 });
    deliver(ahead, { address: '10.6.6.6', port: 666 });
    assert.deepEqual({ ...p.server.stats.drops }, { replay: 2, auth_failed: 1 });
    assert.equal(p.server.remote, `10.0.0.2:${p.clientEp.port}`, 'a forger does not move the session');
    for (let i = 0; i < 2100; i++) p.client.sendPacket(Buffer.alloc(1));
    await p.net.settle();
    deliver(first!);
    assert.equal(p.server.stats.drops.too_old, 1);
    assert.equal(p.atServer.packets.length, 3 + 2100);
  });

  it('rekeys when told, by count and by time, losing nothing', async () => {
    const p = await sessionPair({ limits: { rekeyAfterPackets: 50, rekeyAfterMs: 2_000 } });
    const seen = capture(p);
    p.client.sendPacket(Buffer.from('epoch 0'));
    p.client.rekey();
    p.client.sendPacket(Buffer.from('epoch 1'));
    await p.net.settle();
    const late = seen[0]!;
    assert.equal(seen[1]![1], 1, 'sent in epoch 1');
    for (let i = 0; i < 120; i++) p.client.sendPacket(Buffer.alloc(1));
    await p.net.settle();
    assert.equal(p.client.stats.rekeys, 3, 'one forced, two at 50 packets');
    await elapse(p, 2_000);
    p.client.sendPacket(Buffer.from('after rekeyAfterMs'));
    await p.net.settle();
    assert.equal(p.client.stats.rekeys, 4, 'and one by time');
    assert.equal(p.atServer.packets.length, 123);
    assert.deepEqual({ ...p.server.stats.drops }, {});

    const srv = (p.serverEp as unknown as { socket: MemorySocket }).socket;
    srv.onDatagram(late, { address: '10.0.0.2', port: p.clientEp.port });
    assert.equal(p.server.stats.drops.stale_epoch, 1, 'epoch 0 is several epochs back: gone');
  });

  it('the previous epoch opens reordered packets until its grace ends, then it is retired', async () => {
    const p = await sessionPair();
    const seen = capture(p);
    p.client.sendPacket(Buffer.from('x'));
    p.client.rekey();
    p.client.sendPacket(Buffer.from('y'));
    await p.net.settle();
    const previous = seen.at(-2)!;
    const srv = (p.serverEp as unknown as { socket: MemorySocket }).socket;
    const from = { address: '10.0.0.2', port: p.clientEp.port };
    srv.onDatagram(previous, from);
    assert.deepEqual({ ...p.server.stats.drops }, { replay: 1 }, 'the previous epoch still has its window');
    await elapse(p, PREVIOUS_EPOCH_GRACE_MS + 2 * TICK_MS);
    assert.equal(p.client.stats.rekeys, 1, 'no rekey by time meanwhile');
    srv.onDatagram(previous, from);
    assert.deepEqual({ ...p.server.stats.drops }, { replay: 1, stale_epoch: 1 }, 'after its grace the previous epoch is retired');
  });

  it('follows a client whose address changes; the client never moves', async () => {
    const p = await sessionPair();
    const before = p.clientEp.port;
    await p.clientEp.rebind('10.0.0.3');
    p.client.sendPacket(Buffer.from('from the new address'));
    await p.net.settle();
    assert.deepEqual(p.atServer.roams, [`10.0.0.3:${p.clientEp.port}`]);
    assert.notEqual(p.clientEp.port, before);
    p.server.sendPacket(Buffer.from('to the new address'));
    await p.net.settle();
    assert.deepEqual(text(p.atClient.packets), ['to the new address']);
    assert.equal(p.client.remote, '10.0.0.1:4500');
  });

  it('keepalives hold an idle session; a silent peer is declared dead after deadPeerMs', async () => {
    const p = await sessionPair();
    await elapse(p, 4 * LIMITS.deadPeerMs);
    assert.equal(p.atClient.endedWith, null, 'keepalives kept the client up');
    assert.equal(p.atServer.endedWith, null, 'and the server');
    p.net.filter = () => undefined; // the path goes dark
    const ended = () => p.atClient.endedWith as (Error & { code?: string }) | null | undefined;
    for (let t = 0; t <= LIMITS.deadPeerMs + TICK_MS && ended() === null; t += TICK_MS) p.clock.advance(TICK_MS);
    assert.match(String(ended()?.message), /silent for \d+ ms/);
    assert.equal(ended()?.code, 'INSEL_PEER_DEAD');
    assert.ok(p.clientEp.isClosed, 'the client endpoint closes with its last session');
  });

  it('close tells the peer; a protocol error tells it why', async () => {
    const p = await sessionPair();
    p.client.close('bye');
    await p.net.settle();
    assert.equal(p.atServer.endedWith, undefined);
    assert.equal(p.server.peerCloseReason, 'bye');
    assert.equal(p.client.sendPacket(Buffer.from('late')), false);
    const q = await sessionPair();
    q.server.abort('something odd');
    await q.net.settle();
    assert.match(String(q.atServer.endedWith?.message), /protocol error: .* sent something odd/);
    assert.match(q.client.peerCloseReason, /something odd/);
    assert.equal(q.server.stats.drops.malformed, 1);
  });

  it('reuses one send buffer while the socket holds nothing; never one it holds; a full queue drops, counted', async () => {
    const p = await sessionPair();
    for (let i = 0; i < 1000; i++) p.client.sendPacket(Buffer.from(`m${i}`), undefined, i % 2 ? FLAG_COMPRESSED : 0);
    assert.equal(p.client.buffers, 1, 'the socket took each at once');
    await p.net.settle();
    assert.equal(p.atServer.packets.length, 1000);

    const sock = (p.clientEp as unknown as { socket: MemorySocket }).socket;
    sock.hold = true;
    const copies: Buffer[] = [];
    const held = (sock as unknown as { held: { datagram: Buffer }[] }).held;
    for (let i = 0; i < SEND_QUEUE_PACKETS; i++) {
      assert.ok(p.client.writable);
      assert.ok(p.client.sendPacket(Buffer.from(`held ${i}`)));
      copies.push(Buffer.from(held.at(-1)!.datagram));
    }
    assert.equal(p.client.writable, false);
    assert.equal(p.client.sendPacket(Buffer.from('one too many')), false);
    assert.equal(p.client.stats.drops.send_queue_full, 1);
    held.forEach((h, i) => assert.ok(h.datagram.equals(copies[i]!), `held datagram ${i} intact`));
    assert.equal(p.client.buffers, SEND_QUEUE_PACKETS);
    sock.release();
    assert.ok(p.client.writable);
    await p.net.settle();
    assert.equal(p.atServer.packets.length, 1000 + SEND_QUEUE_PACKETS);
    assert.equal(p.atServer.packets.at(-1)!.toString(), `held ${SEND_QUEUE_PACKETS - 1}`);
  });

  for (const mode of ['integrity', 'none'] as const) {
    it(`works in mode ${mode}`, async () => {
      const p = await sessionPair({ mode });
      p.client.sendPacket(Buffer.from('hello'), Buffer.from('h:'));
      await p.net.settle();
      assert.deepEqual(text(p.atServer.packets), ['h:hello']);
    });
  }
});
