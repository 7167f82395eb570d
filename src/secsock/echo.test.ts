// Echo over real loopback sockets, both transports: message boundaries and
// bytes survive at every size, with every AEAD, mode and compression.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { makeTestPki } from '../pki/testing.js';
import { channelStream } from './stream.js';
import { pair, take, type TestPki } from './testing.js';
import { sec_accept, sec_close, sec_connect, sec_init, sec_recv, sec_send } from './index.js';

const SIZES = [0, 1, 64 * 1024, 1024 * 1024];

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

for (const transport of ['tcp', 'udp'] as const) {
  describe(`${transport} echo`, () => {
    it('carries 0 B, 1 B, 64 KiB and 1 MiB messages both ways, boundaries kept', async () => {
      const p = await pair(pki, transport);
      try {
        const messages = SIZES.map((n) => randomBytes(n));
        const echo = (async () => {
          for (let i = 0; i < messages.length; i++) await p.accepted.send((await p.accepted.recv())!);
        })();
        for (const m of messages) await p.client.send(m);
        const back = await take(p.client, messages.length);
        await echo;
        assert.deepEqual(
          back.map((b) => b.length),
          SIZES,
        );
        for (let i = 0; i < messages.length; i++) assert.ok(back[i]!.equals(messages[i]!), `message ${i} differs`);
        assert.equal(p.client.stats().messagesOut, 4);
        assert.equal(p.accepted.stats().messagesIn, 4);
        assert.equal(p.accepted.stats().bytesIn, SIZES.reduce((a, b) => a + b));
      } finally {
        await p.close();
      }
    });

    it('exposes the peer identities and the negotiated parameters', async () => {
      const p = await pair(pki, transport, { aeads: ['chacha20-poly1305', 'aes-256-gcm'], hashes: ['sha384', 'sha256'] });
      try {
        assert.equal(p.client.peer.name, 'srv');
        assert.equal(p.client.peer.role, 'server');
        assert.equal(p.accepted.peer.name, 'alice');
        assert.equal(p.accepted.peer.role, 'user');
        assert.equal(p.client.params.aead, 'chacha20-poly1305', 'server preference wins');
        assert.equal(p.client.params.hash, 'sha384');
        assert.deepEqual(p.client.params, p.accepted.params);
        assert.equal(p.client.params.tlsCipher.startsWith('TLS_'), true);
      } finally {
        await p.close();
      }
    });

    for (const aead of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
      for (const mode of ['private', 'integrity', 'none'] as const) {
        it(`works with ${aead}, mode ${mode}, deflate`, async () => {
          const opts = { aeads: [aead], modes: [mode], compressions: ['deflate' as const], allowPlaintext: mode === 'none' };
          const p = await pair(pki, transport, opts, opts);
          try {
            assert.equal(p.client.params.mode, mode);
            const text = Buffer.from('compressible '.repeat(5000));
            await p.client.send(text);
            assert.ok((await p.accepted.recv())!.equals(text));
          } finally {
            await p.close();
          }
        });
      }
    }

    it('a close is seen by the peer with its reason', async () => {
      const p = await pair(pki, transport);
      await p.client.close('done here');
      assert.equal(await p.accepted.recv(), null);
      assert.equal(p.accepted.peerCloseReason, 'done here');
      await p.close();
    });
  });
}

describe('sec_* API', () => {
  it('sec_init / sec_accept / sec_connect / sec_send / sec_recv / sec_close, switching on transport only', async () => {
    for (const transport of ['tcp', 'udp'] as const) {
      const server = await sec_init({ transport, port: 0, identity: pki.profile('srv') });
      const [c, s] = await Promise.all([sec_connect({ transport, host: '127.0.0.1', port: server.port, identity: pki.profile('carol') }), sec_accept(server)]);
      await sec_send(c, Buffer.from('hello'));
      assert.equal((await sec_recv(s))!.toString(), 'hello');
      await sec_close(c);
      assert.equal(await sec_recv(s), null);
      await server.close();
    }
  });
});

describe('tcp stream adapter', () => {
  it('pipes bytes through a Duplex in both directions', async () => {
    const p = await pair(pki, 'tcp');
    try {
      const a = channelStream(p.client);
      const b = channelStream(p.accepted);
      const payload = randomBytes(300_000);
      const got: Buffer[] = [];
      const done = new Promise<void>((resolve) => {
        b.on('data', (c: Buffer) => {
          got.push(c);
          if (Buffer.concat(got).length >= payload.length) resolve();
        });
      });
      for (let i = 0; i < payload.length; i += 10_000) a.write(payload.subarray(i, i + 10_000));
      await done;
      assert.ok(Buffer.concat(got).equals(payload));
      a.end();
      await new Promise((resolve) => b.once('end', resolve).resume());
    } finally {
      await p.close();
    }
  });
});
