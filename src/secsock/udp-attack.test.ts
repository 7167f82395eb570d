// What a network attacker can do to a UDP channel: forge, truncate, flip
// bits, replay, send stale datagrams. Each is dropped and counted; none is
// delivered; the channel keeps working. And a client whose address changes
// (roaming, NAT rebinding) keeps its channel. Keepalives, dead peers and
// rekeys by time run on a manual clock in datagram-session.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { makeTestPki } from '../pki/testing.js';
import { pair, take, type Pair, type TestPki } from './testing.js';
import type { UdpChannel } from './udp-channel.js';
import { REPLAY_WINDOW_SIZE } from './replay.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

/** Records copies of every datagram the client sends; `mangle` may replace one in flight. */
function tap(ch: UdpChannel): { seen: Buffer[]; mangle: ((d: Buffer) => Buffer) | undefined } {
  const t = { seen: [] as Buffer[], mangle: undefined as ((d: Buffer) => Buffer) | undefined };
  const ep = ch.udp;
  const send = ep.send.bind(ep);
  ep.send = (d, port, address) => {
    const copy = Buffer.from(d);
    t.seen.push(copy);
    send(t.mangle ? t.mangle(copy) : d, port, address);
  };
  return t;
}

async function attacker(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

function inject(s: Socket, port: number, ...datagrams: Buffer[]): Promise<void> {
  return Promise.all(datagrams.map((d) => new Promise<void>((resolve, reject) => s.send(d, port, '127.0.0.1', (e) => (e ? reject(e) : resolve()))))).then(() => undefined);
}

/** Sends a marker message and waits until it arrives: everything injected before it was processed. */
async function barrier(p: Pair, label: string): Promise<void> {
  await p.client.send(Buffer.from(label));
  assert.equal((await p.accepted.recv())!.toString(), label);
}

describe('udp channel under attack', () => {
  it('drops and counts tampered, truncated, replayed, forged and stale datagrams; delivers none', async () => {
    const p = await pair(pki, 'udp');
    const evil = await attacker();
    try {
      const client = p.client as UdpChannel;
      const port = p.client.params.udpPort!;
      const t = tap(client);
      for (let i = 0; i < 5; i++) await p.client.send(Buffer.from(`genuine ${i}`));
      assert.equal((await take(p.accepted, 5)).length, 5);
      const genuine = t.seen.slice(-5);

      // In flight: bit flips in the channel id, the counter, the body and the
      // tag, and a datagram cut short. None may be delivered.
      const damage: ((d: Buffer) => Buffer)[] = [2, 10, 14, -20, -1].map((at) => (d) => {
        d[at < 0 ? d.length + at : at]! ^= 0x01;
        return d;
      });
      damage.push((d) => d.subarray(0, d.length - 1));
      for (const [i, hurt] of damage.entries()) {
        t.mangle = hurt;
        await p.client.send(Buffer.from(`tampered ${i}`));
      }
      t.mangle = undefined;
      // Replays of what was delivered, from another address.
      await inject(evil, port, ...genuine);
      // Too short for a header, empty, and an unknown type.
      await inject(evil, port, genuine[0]!.subarray(0, 10), Buffer.alloc(0), Buffer.alloc(200, 0xff));
      await barrier(p, 'after the attack');

      const drops = p.accepted.stats().drops;
      const endpointDrops = p.server.stats().udpDrops;
      const all = JSON.stringify({ drops, endpointDrops });
      assert.equal(drops.auth_failed, 5, all);
      assert.equal(drops.replay, 5, all);
      assert.equal(endpointDrops.unknown_channel, 1, all);
      assert.equal(endpointDrops.truncated, 2, all);
      assert.equal(endpointDrops.bad_type, 1, all);
      assert.equal(p.accepted.stats().messagesIn, 6, 'only the genuine messages and the barrier');
      assert.equal(p.accepted.stats().roams, 0, 'an attacker cannot move the channel');
      assert.equal(p.accepted.remote, `127.0.0.1:${client.udp.port}`);

      // Push the window past the first genuine datagram, then replay it: too old.
      for (let i = 0; i < REPLAY_WINDOW_SIZE + 10; i++) await p.client.send(Buffer.alloc(1));
      await take(p.accepted, REPLAY_WINDOW_SIZE + 10);
      await inject(evil, port, genuine[0]!);
      await barrier(p, 'after the stale one');
      assert.equal(p.accepted.stats().drops.too_old, 1);
    } finally {
      evil.close();
      await p.close();
    }
  });

  it('a client that changes its address (new local port) keeps its channel', async () => {
    const p = await pair(pki, 'udp');
    try {
      const client = p.client as UdpChannel;
      const before = client.udp.port;
      const roamed = new Promise<string>((resolve) => p.accepted.once('roam', resolve));
      let received = 0;
      const reader = (async () => {
        for await (const m of p.accepted) {
          received++;
          if (m.toString() === 'last') return;
        }
      })();
      for (let i = 0; i < 200; i++) {
        if (i === 100) await client.udp.rebind('127.0.0.1');
        await p.client.send(Buffer.from(i === 199 ? 'last' : `m${i}`));
      }
      await reader;
      assert.notEqual(client.udp.port, before);
      assert.equal(await roamed, `127.0.0.1:${client.udp.port}`);
      assert.equal(received, 200);
      assert.equal(p.accepted.stats().roams, 1);
      // The server now answers to the new address.
      await p.accepted.send(Buffer.from('to the new port'));
      assert.equal((await p.client.recv())!.toString(), 'to the new port');
    } finally {
      await p.close();
    }
  });
});
