// Both ends of an org connection fed random frames (almost-right messages,
// random JSON, random bytes) through an in-memory socket: nothing throws out
// of them; what comes back is answers, refusals or one reason frame, and
// after the reason frame nothing more.
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { OrgClientConnection, OrgServerConnection } from './connection.js';
import { OrgRefusedError } from './errors.js';
import { encodeFrame, FrameDecoder, parseObject } from './frame.js';
import { ORG_REQUESTS, requestsSchema } from './messages.js';

/** A socket whose writes are collected and whose reads we push. */
function fakeSocket(): { socket: Duplex; written: Buffer[] } {
  const written: Buffer[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      cb();
    },
  });
  return { socket, written };
}

const json = fc.jsonValue({ maxDepth: 3 });
const user = fc.record({ name: fc.constantFrom('alice', 'x y'), site: fc.constantFrom('b', ''), groups: fc.array(fc.constantFrom('eng', '!'), { maxLength: 2 }), serial: fc.constantFrom('1f', 'zz') });
const message = fc.oneof(
  fc.record({ id: fc.oneof(fc.nat(20), fc.constant(-1)), type: fc.constantFrom(...ORG_REQUESTS, 'enroll', 'event', 'error', 'x'), user, service: fc.constantFrom('web@b', 'call:aaaaaaaaaaaaaaaaaaaaaaaaaa', 'x'), ticket: fc.string({ maxLength: 5 }) }, { requiredKeys: ['id', 'type'] }),
  fc.record({ id: fc.nat(20), ok: fc.boolean(), code: fc.constantFrom('INSEL_X', 'bad'), reason: fc.string({ maxLength: 5 }) }, { requiredKeys: ['id'] }),
  fc.record({ type: fc.constant('event'), event: fc.oneof(json, fc.record({ kind: fc.constantFrom('revoked', 'trust', 'services', 'call') })) }),
  fc.dictionary(fc.string({ maxLength: 4 }), json, { maxKeys: 4 }),
);
const chunk = fc.oneof(
  message.map((m) => encodeFrame(m)),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
);

test('fuzz: a serving end never throws, answers or closes with one reason frame, then is silent', async () => {
  const schema = requestsSchema(ORG_REQUESTS);
  await fc.assert(
    fc.asyncProperty(fc.array(chunk, { minLength: 1, maxLength: 8 }), async (chunks) => {
      const { socket, written } = fakeSocket();
      const conn = new OrgServerConnection(socket, { peer: 'fuzz' }, schema, async (req) => {
        if (req.type === 'ticket') throw new OrgRefusedError('INSEL_ORG_TICKET', 'no');
        return {};
      }, () => undefined);
      for (const c of chunks) socket.push(c);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      const out = new FrameDecoder().push(Buffer.concat(written)).map(parseObject);
      const err = out.findIndex((f) => f.type === 'error');
      if (err >= 0) {
        assert.equal(err, out.length - 1, 'nothing after the reason frame');
        assert.ok(conn.closed);
      }
      for (const f of out.slice(0, err >= 0 ? err : out.length)) assert.equal(typeof f.id, 'number');
      socket.destroy();
    }),
    { numRuns: 300 },
  );
});

test('fuzz: a requesting end never throws; its requests settle when it closes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(chunk, { minLength: 1, maxLength: 8 }), async (chunks) => {
      const { socket } = fakeSocket();
      const conn = new OrgClientConnection(socket, { peer: 'fuzz' });
      const pending = [conn.request('heartbeat', {}), conn.request('subscribe', {})].map((p) => p.then(() => 'ok', (e: unknown) => (e instanceof Error ? 'err' : 'bad')));
      for (const c of chunks) socket.push(c);
      await new Promise((r) => setImmediate(r));
      conn.close('INSEL_TEST', 'done');
      for (const r of await Promise.all(pending)) assert.notEqual(r, 'bad');
      socket.destroy();
    }),
    { numRuns: 300 },
  );
});
