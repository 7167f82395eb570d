// Control messages under random bytes, random JSON, single-field damage,
// truncation and bit flips: a schema-valid value or a DecodeError naming a
// field of the schema, nothing else. Valid messages round-trip exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PROTOCOL_VERSION } from './constants.js';
import { acceptSchema, decodeControl, encodeControl, helloSchema, rejectSchema } from './control.js';
import { DecodeError } from './errors.js';

const RUNS = 2000;
const SCHEMAS = [
  ['HELLO', helloSchema],
  ['ACCEPT', acceptSchema],
  ['REJECT', rejectSchema],
] as const;

/**
 * Decodes with every schema. Accepted values must be encode/decode fix-points;
 * a DecodeError must name the root (''), a key of the schema, or an unexpected
 * key the JSON object has.
 */
function decodeAll(payload: Buffer): void {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    json = undefined;
  }
  const present = json !== null && typeof json === 'object' && !Array.isArray(json) ? Object.keys(json) : [];
  for (const [what, schema] of SCHEMAS) {
    try {
      const v = decodeControl(schema as typeof helloSchema, payload, what);
      assert.deepEqual(decodeControl(schema as typeof helloSchema, encodeControl(v), what), v);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      const field = err.field ?? '';
      const top = field.split('.')[0]!;
      assert.ok(field === '' || Object.hasOwn(schema.shape, top) || present.includes(field), `${what}: ${err.message}`);
    }
  }
}

const name = fc.string({ unit: 'binary', maxLength: 32 });
const names = fc.array(name, { maxLength: 32 });
const positive = fc.oneof(fc.integer({ min: 1, max: 1 << 20 }), fc.maxSafeNat().filter((n) => n > 0));
const nonce = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
// fc.record builds null-prototype objects; the decoder's are plain.
const plain = <T extends object>(r: T): T => ({ ...r });
const helloArb = fc.record({
  v: fc.constant(PROTOCOL_VERSION),
  transport: fc.constantFrom('tcp' as const, 'udp' as const),
  aeads: names,
  hashes: names,
  compressions: names,
  modes: names,
  nonce,
  maxFrame: positive,
  maxMessage: positive,
  datagramSize: positive,
}).map(plain);
const acceptArb = fc.record(
  {
    v: fc.constant(PROTOCOL_VERSION),
    aead: name,
    hash: name,
    compression: name,
    mode: name,
    nonce,
    maxFrame: positive,
    maxMessage: positive,
    datagramSize: positive,
    udpPort: fc.integer({ min: 1, max: 65535 }),
    channelId: fc.integer({ min: 1, max: 0xffffffff }),
  },
  { requiredKeys: ['v', 'aead', 'hash', 'compression', 'mode', 'nonce', 'maxFrame', 'maxMessage', 'datagramSize'] },
).map(plain);
const rejectArb = fc.record({ code: fc.string({ maxLength: 64 }), message: fc.string({ unit: 'binary', maxLength: 2000 }) }).map(plain);
const validArb = fc.oneof(
  helloArb.map((m) => [0, m] as const),
  acceptArb.map((m) => [1, m] as const),
  rejectArb.map((m) => [2, m] as const),
);

test('fuzz: random bytes are a DecodeError for every schema', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      for (const [what, schema] of SCHEMAS) assert.throws(() => decodeControl(schema as typeof helloSchema, Buffer.from(b), what), DecodeError);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: random JSON decodes to a valid value or a DecodeError naming a field', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), (j) => decodeAll(Buffer.from(JSON.stringify(j) ?? 'null'))),
    { numRuns: RUNS },
  );
});

test('fuzz: valid messages round-trip exactly', () => {
  fc.assert(
    fc.property(validArb, ([i, m]) => {
      const [what, schema] = SCHEMAS[i];
      assert.deepEqual(decodeControl(schema as typeof helloSchema, encodeControl(m as never), what), m);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: one damaged field is refused by name, or accepted if still valid', () => {
  fc.assert(
    fc.property(validArb, fc.nat(), fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined)), ([i, m], k, value) => {
      const [what, schema] = SCHEMAS[i];
      const keys = Object.keys(m);
      const key = keys[k % keys.length]!;
      const damaged: Record<string, unknown> = { ...m, [key]: value };
      if (value === undefined) delete damaged[key];
      const ok = schema.safeParse(damaged).success;
      try {
        assert.deepEqual(decodeControl(schema as typeof helloSchema, Buffer.from(JSON.stringify(damaged)), what), damaged);
        assert.ok(ok);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        assert.ok(!ok);
        assert.equal(err.field?.split('.')[0], key, err.message);
      }
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: an unknown extra key is refused by its name', () => {
  fc.assert(
    fc.property(validArb, fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 1 }), ([i, m], key, value) => {
      const [what, schema] = SCHEMAS[i];
      fc.pre(!Object.hasOwn(schema.shape, key));
      const payload = Buffer.from(JSON.stringify({ ...m, [key]: value }));
      assert.throws(
        () => decodeControl(schema as typeof helloSchema, payload, what),
        (e: unknown) => e instanceof DecodeError && e.field === key,
      );
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: truncated messages are DecodeErrors', () => {
  fc.assert(
    fc.property(validArb, fc.nat(), ([i, m], cut) => {
      const [what, schema] = SCHEMAS[i];
      const b = encodeControl(m as never);
      assert.throws(() => decodeControl(schema as typeof helloSchema, b.subarray(0, cut % b.length), what), DecodeError);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: bit flips decode to a valid fix-point or a DecodeError', () => {
  fc.assert(
    fc.property(validArb, fc.nat(), fc.integer({ min: 0, max: 7 }), ([, m], pos, bit) => {
      const b = Buffer.from(encodeControl(m as never));
      b[pos % b.length]! ^= 1 << bit;
      decodeAll(b);
    }),
    { numRuns: RUNS },
  );
});
