// The connection phase refuses what it must, and both ends learn why:
// certificates (foreign CA, revoked, expired, wrong role), no common
// algorithm, broken algorithms, a connection phase it cannot read.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { readToClose } from '../net/testing.js';
import { makeTestPki } from '../pki/testing.js';
import { connect } from './client.js';
import { FrameType } from './constants.js';
import { RejectedError } from './errors.js';
import { encodeFrame, FrameDecoder } from './frame.js';
import { SecServer, type ServerOptions } from './server.js';
import { nextHandshakeError, type TestPki } from './testing.js';
import type { SecOptions } from './config.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

interface Refusal {
  server: Error;
  client: Error;
}

/** Runs one connection attempt that must fail; returns both ends' errors. */
async function refused(transport: 'tcp' | 'udp', server: Partial<ServerOptions>, client: Partial<SecOptions>): Promise<Refusal> {
  const srv = await SecServer.listen({ transport, identity: pki.profile('srv'), ...server });
  try {
    const serverErr = nextHandshakeError(srv);
    const clientErr = await connect({ transport, host: '127.0.0.1', port: srv.port, identity: pki.profile('alice'), ...client }).then(
      (ch) => {
        void ch.close();
        throw new Error('connection was accepted');
      },
      (err: Error) => err,
    );
    assert.equal(srv.stats().accepted, 0);
    return { server: await serverErr, client: clientErr };
  } finally {
    await srv.close();
  }
}

for (const transport of ['tcp', 'udp'] as const) {
  describe(`${transport} refusals`, () => {
    const cases: [string, () => SecOptions['identity'], string, RegExp][] = [
      ['a certificate from a foreign CA', () => ({ ...pki.foreign, ca: pki.profile('alice').ca }), 'INSEL_CERT_UNKNOWN_CA', /CA/],
      ['a revoked certificate', () => pki.profile('mallory'), 'INSEL_CERT_REVOKED', /revoked/],
      ['an expired certificate', () => pki.profile('old'), 'INSEL_CERT_EXPIRED', /expired/],
    ];
    for (const [what, identity, code, text] of cases) {
      it(`server refuses ${what}; the client is told why`, async () => {
        const r = await refused(transport, {}, { identity: identity() });
        assert.equal((r.server as { code?: string }).code, code);
        assert.match(r.server.message, text);
        assert.ok(r.client instanceof RejectedError, `client got ${r.client}`);
        assert.equal(r.client.peerCode, code);
        assert.match(r.client.message, text);
      });
    }

    it('server refuses a certificate of the wrong role', async () => {
      const r = await refused(transport, { peerRoles: ['site'] }, {});
      assert.equal((r.server as { code?: string }).code, 'INSEL_CERT_WRONG_ROLE');
      assert.match(r.server.message, /role/);
      assert.ok(r.client instanceof RejectedError);
      assert.equal(r.client.peerCode, 'INSEL_CERT_WRONG_ROLE');
    });

    it('client refuses a server of the wrong role; the server is told why', async () => {
      const r = await refused(transport, {}, { peerRoles: ['hq'] });
      assert.equal((r.client as { code?: string }).code, 'INSEL_CERT_WRONG_ROLE');
      assert.match(r.client.message, /role/);
      assert.ok(r.server instanceof RejectedError, `server got ${r.server}`);
      assert.equal(r.server.peerCode, 'INSEL_CERT_WRONG_ROLE');
    });

    it('no common cipher: both ends get an error listing both offers', async () => {
      const r = await refused(transport, { aeads: ['aes-256-gcm'] }, { aeads: ['chacha20-poly1305'] });
      for (const err of [r.server, r.client]) {
        assert.match(err.message, /no common choice/);
        assert.match(err.message, /chacha20-poly1305/);
        assert.match(err.message, /aes-256-gcm/);
      }
      assert.equal((r.server as { code?: string }).code, 'INSEL_NO_COMMON_CHOICE');
      assert.equal((r.client as RejectedError).peerCode, 'INSEL_NO_COMMON_CHOICE');
    });

    it('plaintext only when both ends allow it', async () => {
      const r = await refused(transport, { modes: ['none'], allowPlaintext: true }, { modes: ['private'] });
      assert.match(r.client.message, /modes/);
    });
  });
}

describe('broken algorithms', () => {
  for (const [field, name] of [
    ['aeads', 'des'],
    ['aeads', 'rc4'],
    ['aeads', 'blowfish'],
    ['aeads', 'idea'],
    ['hashes', 'md5'],
    ['hashes', 'sha1'],
  ] as const) {
    it(`asking for ${name} is refused before any connection, naming a modern choice`, async () => {
      await assert.rejects(
        connect({ transport: 'tcp', host: '127.0.0.1', port: 9, identity: pki.profile('alice'), [field]: [name] } as never),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'INSEL_BROKEN_ALGORITHM');
          assert.match(err.message, new RegExp(name));
          assert.match(err.message, field === 'aeads' ? /aes-256-gcm or chacha20-poly1305/ : /sha256/);
          return true;
        },
      );
    });
  }
});

describe('a connection phase the server cannot read', () => {
  /** Sends `bytes` after TLS as alice; returns the frame the server answered with and the server's error. */
  async function answerTo(bytes: Buffer): Promise<{ type: number | undefined; reject: { code: string; message: string } | undefined; server: Error & { code?: string } }> {
    const srv = await SecServer.listen({ transport: 'tcp', identity: pki.profile('srv') });
    try {
      const serverErr = nextHandshakeError(srv);
      const alice = pki.profile('alice');
      const s = tlsConnect({ port: srv.port, host: '127.0.0.1', key: alice.key, cert: alice.cert, ca: alice.ca, rejectUnauthorized: false });
      s.on('error', () => undefined);
      s.once('secureConnect', () => s.write(bytes));
      const { data, closed } = await readToClose(s, 10_000);
      assert.ok(closed, 'the server kept the connection open');
      const decoder = new FrameDecoder(64 * 1024);
      decoder.push(data);
      const frame = decoder.next();
      const reject = frame?.type === FrameType.REJECT ? (JSON.parse(frame.payload.toString('utf8')) as { code: string; message: string }) : undefined;
      return { type: frame?.type, reject, server: (await serverErr) as Error & { code?: string } };
    } finally {
      await srv.close();
    }
  }

  it('a HELLO with an unknown field gets REJECT INSEL_DECODE naming the field (PROTOCOL §2)', async () => {
    const hello = { v: 1, transport: 'tcp', aeads: ['aes-256-gcm'], hashes: ['sha256'], compressions: ['none'], modes: ['private'], nonce: '00'.repeat(32), maxFrame: 65536, maxMessage: 65536, datagramSize: 1400, extra: 1 };
    const r = await answerTo(encodeFrame(FrameType.HELLO, 0, Buffer.from(JSON.stringify(hello))));
    assert.equal(r.type, FrameType.REJECT);
    assert.equal(r.reject?.code, 'INSEL_DECODE');
    assert.match(r.reject!.message, /extra/);
    assert.equal(r.server.code, 'INSEL_DECODE');
  });

  it('a HELLO that is not JSON, an unknown frame type, or DATA first: REJECT INSEL_DECODE with the reason', async () => {
    for (const [bytes, why] of [
      [encodeFrame(FrameType.HELLO, 0, Buffer.from('{not json')), /not valid JSON/],
      [Buffer.from([0xee, 0, 0, 0, 0, 0]), /unknown frame type 238/],
      [encodeFrame(FrameType.DATA, 0, Buffer.from('early')), /frame type 4 instead of HELLO/],
    ] as const) {
      const r = await answerTo(bytes);
      assert.equal(r.type, FrameType.REJECT, String(why));
      assert.equal(r.reject?.code, 'INSEL_DECODE');
      assert.match(r.reject!.message, why);
    }
  });
});
