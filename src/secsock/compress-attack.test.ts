// A hostile (authenticated) peer and compression: a compressed message on a
// channel that negotiated none ends the channel as a protocol error; a bomb
// (deflate at ~1000:1) is refused at max(64 KiB, 32 x its size), before
// that much is inflated. Both transports; the peer is a real channel whose
// state or socket the test tampers with.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { deflateRawSync } from 'node:zlib';
import { makeTestPki } from '../pki/testing.js';
import type { ChannelParams } from './channel.js';
import { FLAG_COMPRESSED, FrameType } from './constants.js';
import { encodeFrame } from './frame.js';
import { pair, take, type TestPki } from './testing.js';
import type { UdpChannel } from './udp-channel.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

const TEXT = Buffer.from('insel insel insel: a VPN toolkit. '.repeat(200));

/** The accepted channel's close error (it must close within 10 s). */
function closeError(ch: { once(e: 'close', f: (err?: Error) => void): unknown }): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the channel stayed open')), 10_000);
    ch.once('close', (err?: Error) => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

for (const transport of ['tcp', 'udp'] as const) {
  describe(`${transport}: compression under attack`, () => {
    it('a compressed message on a channel that negotiated none ends the channel, counted', async () => {
      const p = await pair(pki, transport, { compressions: ['none'] });
      try {
        assert.equal(p.accepted.params.compression, 'none');
        const closed = closeError(p.accepted);
        // The peer pretends deflate was agreed.
        (p.client.params as { compression: ChannelParams['compression'] }).compression = 'deflate';
        await p.client.send(TEXT);
        const err = await closed;
        assert.match(String(err?.message), /negotiated no compression/);
        assert.equal(p.accepted.stats().drops.malformed, 1);
        assert.equal(p.accepted.stats().messagesIn, 0);
      } finally {
        await p.close();
      }
    });

    it('a deflate bomb is refused at the ratio bound; honest compressed messages still arrive', async () => {
      const p = await pair(pki, transport, { compressions: ['deflate'] });
      try {
        await p.client.send(TEXT);
        assert.deepEqual((await take(p.accepted, 1))[0], TEXT);
        // TCP: 16 MiB of zeros in ~16 KiB, one frame. UDP: 1 MiB in ~1 KiB, one datagram.
        const bomb = deflateRawSync(Buffer.alloc(transport === 'tcp' ? 16 * 1024 * 1024 : 1024 * 1024));
        if (transport === 'tcp') {
          const closed = closeError(p.accepted);
          (p.client as unknown as { out: TLSSocket }).out.write(encodeFrame(FrameType.DATA, FLAG_COMPRESSED, bomb));
          const err = await closed;
          assert.match(String(err?.message), new RegExp(`inflates beyond ${Math.max(65536, 32 * bomb.length)} bytes`));
        } else {
          assert.ok((p.client as UdpChannel).session.sendPacket(bomb, undefined, FLAG_COMPRESSED));
          await p.client.send(TEXT);
          assert.deepEqual((await take(p.accepted, 1))[0], TEXT, 'the channel goes on after the dropped bomb');
          assert.equal(p.accepted.stats().drops.malformed, 1);
        }
        assert.equal(p.accepted.stats().bytesIn, (transport === 'tcp' ? 1 : 2) * TEXT.length, 'nothing of the bomb was delivered');
      } finally {
        await p.close();
      }
    });
  });
}
