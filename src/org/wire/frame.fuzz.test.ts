// The decoder and the schemas fed random, truncated and bit-flipped input:
// each yields payloads, objects and messages or a WireError, nothing else;
// the decoder never holds more than one frame; valid frames split at any
// points decode to what was encoded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FRAME_HEADER, MAX_FRAME } from './constants.js';
import { WireError } from './errors.js';
import { encodeFrame, FrameDecoder, parseObject } from './frame.js';
import { answerSchema, ENROLL_REQUESTS, eventFrameSchema, ORG_REQUESTS, requestsSchema, type RequestType } from './messages.js';

const RUNS = 1000;

function wireOnly<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    if (err instanceof WireError) return undefined;
    throw err;
  }
}

const json = fc.jsonValue({ maxDepth: 4 });
const objects = fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 6 });

test('fuzz: frames split anywhere decode to the objects encoded, in order', () => {
  fc.assert(
    fc.property(fc.array(objects, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 20 }), (msgs, cuts) => {
      const bytes = Buffer.concat(msgs.map((m) => encodeFrame(m)));
      const d = new FrameDecoder();
      const out: unknown[] = [];
      let off = 0;
      for (const c of cuts) {
        if (off >= bytes.length) break;
        out.push(...d.push(bytes.subarray(off, off + c)).map(parseObject));
        off += c;
      }
      if (off < bytes.length) out.push(...d.push(bytes.subarray(off)).map(parseObject));
      assert.deepEqual(out, JSON.parse(JSON.stringify(msgs)));
      assert.equal(d.held, 0);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: random and bit-flipped bytes give payloads or WireError; the decoder holds at most one frame', () => {
  const flipped = fc.tuple(objects, fc.nat(), fc.integer({ min: 0, max: 7 })).map(([m, at, bit]) => {
    const b = encodeFrame(m);
    b[at % b.length]! ^= 1 << bit;
    return b;
  });
  const bytes = fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), flipped);
  fc.assert(
    fc.property(fc.array(bytes, { minLength: 1, maxLength: 5 }), (chunks) => {
      const d = new FrameDecoder();
      for (const c of chunks) {
        const payloads = wireOnly(() => d.push(c));
        if (payloads === undefined) return;
        for (const p of payloads) {
          const obj = wireOnly(() => parseObject(p));
          if (obj !== undefined) assert.equal(typeof obj, 'object');
        }
        assert.ok(d.held <= FRAME_HEADER + MAX_FRAME);
      }
    }),
    { numRuns: RUNS },
  );
});

test('a length of 0 or over 1 MiB is refused from the header alone', () => {
  for (const len of [0, MAX_FRAME + 1, 0xffffffff]) {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(len >>> 0);
    assert.throws(() => new FrameDecoder().push(h), (e: unknown) => e instanceof WireError && e.code === 'INSEL_WIRE_FRAME');
  }
  assert.throws(() => encodeFrame({ x: 'a'.repeat(MAX_FRAME) }), (e: unknown) => e instanceof WireError);
});

test('bad UTF-8, bad JSON and non-objects are WireError INSEL_WIRE_JSON', () => {
  for (const p of [Buffer.from([0xff, 0xfe]), Buffer.from('{"a":'), Buffer.from('[1]'), Buffer.from('null'), Buffer.from('"x"'), Buffer.from('['.repeat(100_000))]) {
    assert.throws(() => parseObject(p), (e: unknown) => e instanceof WireError && e.code === 'INSEL_WIRE_JSON');
  }
});

// Objects close to the messages: right types and keys with random values, and random keys added or dropped.
const types = [...ORG_REQUESTS, ...ENROLL_REQUESTS, 'event', 'error', 'nope'];
const fieldValue = fc.oneof(json, fc.constantFrom('alice', 'a@b', 'svc@site', 'x'.repeat(70), '../etc', '', -1, 2 ** 32, 1.5), fc.array(fc.constantFrom('eng', 'bad name', 'ops'), { maxLength: 3 }));
const messageish = fc.record({
  id: fc.oneof(fc.nat(), fc.constant(-1), fc.constant(2 ** 32), fc.string({ maxLength: 3 })),
  type: fc.constantFrom(...types),
  fields: fc.dictionary(fc.constantFrom('site', 'public', 'services', 'user', 'service', 'ticket', 'code', 'csr', 'name', 'groups', 'ttlS', 'bytesIn', 'bytesOut', 'event', 'ok', 'extra'), fieldValue, { maxKeys: 6 }),
});

test('fuzz: the schemas accept or refuse almost-right messages without throwing', () => {
  const org = requestsSchema(ORG_REQUESTS);
  const enroll = requestsSchema(ENROLL_REQUESTS);
  fc.assert(
    fc.property(messageish, ({ id, type, fields }) => {
      const m = { ...fields, id, type };
      for (const s of [org, enroll, eventFrameSchema]) s.safeParse(m);
      for (const t of ORG_REQUESTS as readonly RequestType[]) answerSchema(t).safeParse({ ...fields, id, ok: true });
    }),
    { numRuns: RUNS },
  );
});
