// Forced rekeys in the middle of a 50 MB transfer: TCP moves to a new TLS
// connection without losing or reordering a byte; UDP moves to the next key
// epoch without losing a datagram.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { makeTestPki } from '../pki/testing.js';
import { pair, type TestPki } from './testing.js';
import type { TcpChannel } from './tcp-channel.js';
import type { UdpChannel } from './udp-channel.js';
import type { SecChannel } from './channel.js';

const TOTAL = 50 * 1024 * 1024;

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

/** Reads until `bytes` arrived; returns their sha256. Calls `each` per message. */
async function drink(ch: SecChannel, bytes: number, each: (m: Buffer, total: number) => Promise<void> | void = () => undefined): Promise<string> {
  const h = createHash('sha256');
  let got = 0;
  while (got < bytes) {
    const m = await ch.recv();
    assert.ok(m, `channel ended after ${got} of ${bytes} bytes`);
    h.update(m);
    got += m.length;
    await each(m, got);
  }
  return h.digest('hex');
}

describe('rekey during a 50 MB transfer', () => {
  it('tcp: client- and server-initiated rekeys lose and reorder nothing, both directions', async () => {
    const p = await pair(pki, 'tcp');
    try {
      const chunk = 64 * 1024;
      const up = createHash('sha256');
      const down = createHash('sha256');
      const received = drink(p.accepted, TOTAL);
      const receivedBack = drink(p.client, TOTAL / 5);
      const sendUp = (async () => {
        for (let sent = 0, i = 0; sent < TOTAL; sent += chunk, i++) {
          const m = randomBytes(chunk);
          up.update(m);
          await p.client.send(m);
          if (i % 160 === 80) await (p.client as TcpChannel).rekey();
          if (i === 400) void (p.accepted as TcpChannel).rekey();
        }
      })();
      const sendDown = (async () => {
        for (let sent = 0; sent < TOTAL / 5; sent += chunk) {
          const m = randomBytes(chunk);
          down.update(m);
          await p.accepted.send(m);
        }
      })();
      await Promise.all([sendUp, sendDown]);
      assert.equal(await received, up.digest('hex'));
      assert.equal(await receivedBack, down.digest('hex'));
      assert.ok(p.client.stats().rekeys >= 6, `client rekeys: ${p.client.stats().rekeys}`);
      assert.equal(p.accepted.stats().rekeys, p.client.stats().rekeys);
      assert.equal(p.server.stats().rekeyed, p.client.stats().rekeys);
      assert.deepEqual(p.accepted.stats().drops, {});
    } finally {
      await p.close();
    }
  });

  it('tcp: a client that only receives still rekeys at its byte limit', async () => {
    const p = await pair(pki, 'tcp', {}, { rekeyAfterBytes: 64 * 1024 });
    try {
      const rekeyed = new Promise((resolve) => p.client.once('rekeyed', resolve));
      for (let i = 0; i < 4; i++) await p.accepted.send(randomBytes(32 * 1024));
      const got = await drink(p.client, 4 * 32 * 1024);
      assert.equal(typeof got, 'string');
      await rekeyed;
      assert.ok(p.client.stats().rekeys >= 1);
      await p.accepted.send(Buffer.from('after'));
      assert.equal((await p.client.recv())!.toString(), 'after');
    } finally {
      await p.close();
    }
  });

  it('tcp: a rekey proof is bound to the channel and its owner', async () => {
    const p = await pair(pki, 'tcp');
    try {
      // Another client cannot take over alice's channel: wrong proof.
      const other = await pair(pki, 'tcp', {}, {}, 'carol');
      const stolen = p.client as TcpChannel;
      (stolen as unknown as { secret: Buffer }).secret = randomBytes(32);
      await assert.rejects(stolen.rekey(), /resume proof/);
      await p.client.send(Buffer.from('still here'));
      assert.equal((await p.accepted.recv())!.toString(), 'still here');
      await other.close();
    } finally {
      await p.close();
    }
  });

  it('udp: forced and limit-triggered rekeys add no loss', async () => {
    const opts = { rekeyAfterPackets: 5000 };
    const p = await pair(pki, 'udp', opts, opts);
    try {
      const size = 16 * 1024;
      const window = 64; // messages in flight before the receiver acknowledges
      const sent = createHash('sha256');
      const acks: (() => void)[] = [];
      const ackReader = (async () => {
        for await (const _ of p.client) acks.shift()?.();
      })();
      const received = drink(p.accepted, TOTAL, async (_m, total) => {
        if ((total / size) % window === 0) await p.accepted.send(Buffer.from('ack'));
      });
      const client = p.client as UdpChannel;
      for (let i = 0; i * size < TOTAL; i++) {
        const m = randomBytes(size);
        sent.update(m);
        await p.client.send(m);
        if (i % 640 === 320) client.rekey();
        if (i === 1000) (p.accepted as UdpChannel).rekey();
        if ((i + 1) % window === 0) {
          await new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`no ack after message ${i}: datagrams were lost (${JSON.stringify(p.accepted.stats().drops)})`)), 5000);
            acks.push(() => {
              clearTimeout(t);
              resolve();
            });
          });
        }
      }
      assert.equal(await received, sent.digest('hex'));
      const s = p.accepted.stats();
      // 5 forced, the rest by the 5000-datagram limit (~38,000 datagrams in all).
      assert.ok(p.client.stats().rekeys >= 7, `client rekeys: ${p.client.stats().rekeys}`);
      assert.equal(p.accepted.stats().rekeys, 1);
      assert.deepEqual(s.drops, {}, 'nothing dropped: no stale epoch, no failed authentication');
      await p.client.close();
      await ackReader;
    } finally {
      await p.close();
    }
  });
});
