// The UDP message channel over its datagram session, on the in-memory
// network: a message that fits one datagram is never compressed; a longer
// one is fragmented (and compressed if that helps); a sender waits while the
// session's send queue is full instead of losing messages; a sink given to
// deliverTo() gets messages synchronously, queued ones first.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DGRAM_HEADER_SIZE } from './constants.js';
import { SEND_QUEUE_PACKETS } from './datagram-session.js';
import type { MemorySocket } from './memory-net.js';
import { channelPair } from './session-testing.js';

const socketOf = (ch: { udp: unknown }) => (ch.udp as { socket: MemorySocket }).socket;

describe('udp message channel', () => {
  it('never compresses a message that fits one datagram; compresses and fragments a long one', async () => {
    const p = await channelPair();
    const sizes: number[] = [];
    p.net.filter = (d) => (sizes.push(d.length), d);
    const fits = Buffer.alloc(p.client.session.room, 'a'); // as compressible as it gets
    await p.client.send(fits);
    assert.deepEqual((await p.server.recv())!, fits);
    assert.deepEqual(sizes, [DGRAM_HEADER_SIZE + 16 + 2 + fits.length], 'sent as it is, in one datagram');
    sizes.length = 0;
    const long = Buffer.from('insel '.repeat(10_000)); // within the 64 KiB inflation floor
    await p.client.send(long);
    assert.deepEqual((await p.server.recv())!, long);
    assert.equal(sizes.length, 1, 'deflated into one datagram');
    sizes.length = 0;
    const noise = randomBytes(5000);
    await p.client.send(noise);
    assert.deepEqual((await p.server.recv())!, noise);
    assert.ok(sizes.length >= 4, `fragmented: ${sizes.length} datagrams`);
  });

  it('a sender waits while the send queue is full, and loses nothing', async () => {
    const p = await channelPair();
    const sock = socketOf(p.client);
    sock.hold = true;
    const n = SEND_QUEUE_PACKETS + 50;
    let sent = 0;
    const sending = (async () => {
      for (let i = 0; i < n; i++, sent++) await p.client.send(Buffer.from(`m${i}`));
    })();
    for (let i = 0; i < 1000 && sock.pending() < SEND_QUEUE_PACKETS; i++) await new Promise(setImmediate);
    assert.equal(sock.pending(), SEND_QUEUE_PACKETS);
    assert.equal(sent, SEND_QUEUE_PACKETS, 'the sender waits at the bound');
    sock.release();
    await sending;
    const got: string[] = [];
    for (let i = 0; i < n; i++) got.push((await p.server.recv())!.toString());
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => `m${i}`));
    assert.equal(p.client.stats().drops.send_queue_full, undefined, 'the channel waited, it did not drop');
  });

  it('deliverTo hands queued and later messages to the sink, in order, without recv()', async () => {
    const p = await channelPair();
    await p.client.send(Buffer.from('queued'));
    await p.net.settle();
    const got: string[] = [];
    p.server.deliverTo((m) => got.push(m.toString()));
    await p.client.send(Buffer.from('direct'));
    await p.net.settle();
    assert.deepEqual(got, ['queued', 'direct']);
    assert.equal(p.server.stats().messagesIn, 2);
    p.server.deliverTo(() => {
      throw new Error('sink broke');
    });
    await p.client.send(Buffer.from('boom'));
    await p.net.settle();
    assert.equal(p.server.isClosed, true, 'a sink that throws closes the channel');
    await assert.rejects(p.server.recv(), /sink broke/);
  });
});
