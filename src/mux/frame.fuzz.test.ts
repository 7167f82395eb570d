// FrameDecoder against a slow DataView oracle over the concatenated stream:
// random bytes in random chunks, valid streams split anywhere, truncated and
// bit-flipped, oversized lengths, unknown types. The decoder must agree with
// the oracle and throw nothing but MuxError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MuxError } from './errors.js';
import { FrameDecoder, encodeFrame } from './frame.js';
import { collector, splitAt } from './testing.js';

const RUNS = 2000;

interface Outcome {
  frames: { type: number; flags: number; id: number; payload: number[] }[];
  end: 'need_more' | 'error';
}

// The spec's table, written out again: [allowed flags, min length, max length] per type.
const RULES: [number, number, number][] = [
  [1, 0, 256 * 1024],
  [1, 2, 16 * 1024],
  [1, 2, 16 * 1024],
  [0, 4, 4],
  [0, 4, 4 + 1024],
  [2, 8, 8],
  [0, 4, 4 + 1024],
];

function oracle(bytes: Uint8Array): Outcome {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Outcome['frames'] = [];
  let at = 0;
  for (;;) {
    if (bytes.length - at < 10) return { frames, end: 'need_more' };
    const type = view.getUint8(at);
    const flags = view.getUint8(at + 1);
    const id = view.getUint32(at + 2, false);
    const len = view.getUint32(at + 6, false);
    const rule = RULES[type];
    if (rule === undefined || (flags & ~rule[0]) !== 0 || len < rule[1] || len > rule[2]) return { frames, end: 'error' };
    if ((type === 5 || type === 6) !== (id === 0)) return { frames, end: 'error' };
    if (bytes.length - at - 10 < len) return { frames, end: 'need_more' };
    frames.push({ type, flags, id, payload: [...bytes.subarray(at + 10, at + 10 + len)] });
    at += 10 + len;
  }
}

function run(chunks: Uint8Array[]): Outcome {
  const c = collector();
  const d = new FrameDecoder(c.sink);
  const plain = () => c.frames.map((f) => ({ type: f.type, flags: f.flags, id: f.id, payload: [...f.payload] }));
  try {
    for (const chunk of chunks) d.push(Buffer.from(chunk));
  } catch (err) {
    if (!(err instanceof MuxError)) throw err;
    return { frames: plain(), end: 'error' };
  }
  return { frames: plain(), end: 'need_more' };
}

/** Frames that are valid on their own (lengths within their type's range). */
const frameArb = fc.integer({ min: 0, max: 6 }).chain((type) => {
  const [flags, min, max] = RULES[type]!;
  return fc.record({
    type: fc.constant(type),
    flags: fc.integer({ min: 0, max: flags }).map((f) => f & flags),
    id: type === 5 || type === 6 ? fc.constant(0) : fc.integer({ min: 1, max: 9 }),
    payload: fc.uint8Array({ minLength: min, maxLength: Math.min(max, Math.max(min, 200)) }),
  });
});
const streamArb = fc.array(frameArb, { maxLength: 8 });
const encode = (frames: { type: number; flags: number; id: number; payload: Uint8Array }[]) => Buffer.concat(frames.map((f) => encodeFrame(f.type, f.flags, f.id, f.payload)));
const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

test('fuzz: random bytes in random chunks agree with the oracle', () => {
  // Biased toward plausible headers: small types, ids and lengths, or huge lengths.
  const headish = fc
    .tuple(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constant(0xffffffff), fc.constant(256 * 1024 + 1)), fc.uint8Array({ maxLength: 50 }))
    .map(([t, f, id, l, rest]) => {
      const h = Buffer.alloc(10);
      h[0] = t;
      h[1] = f;
      h.writeUInt32BE(id, 2);
      h.writeUInt32BE(l, 6);
      return Uint8Array.from([...h, ...rest]);
    });
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), headish), { maxLength: 10 }), (chunks) => {
      assert.deepEqual(run(chunks), oracle(Buffer.concat(chunks)));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: valid streams round-trip exactly, split anywhere', () => {
  fc.assert(
    fc.property(streamArb, cutsArb, (frames, cuts) => {
      const got = run(splitAt(encode(frames), cuts));
      assert.equal(got.end, 'need_more');
      assert.deepEqual(got.frames, frames.map((f) => ({ type: f.type, flags: f.flags, id: f.id, payload: [...f.payload] })));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: a truncated stream yields its whole frames and waits', () => {
  fc.assert(
    fc.property(streamArb.filter((f) => f.length > 0), fc.nat(), cutsArb, (frames, cut, cuts) => {
      const bytes = encode(frames);
      const short = bytes.subarray(0, cut % bytes.length);
      const got = run(splitAt(short, cuts));
      assert.deepEqual(got, oracle(short));
      assert.equal(got.end, 'need_more');
      assert.ok(got.frames.length < frames.length);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: bit flips decode as the oracle says, or throw MuxError', () => {
  fc.assert(
    fc.property(streamArb.filter((f) => f.length > 0), fc.nat(), fc.integer({ min: 0, max: 7 }), cutsArb, (frames, pos, bit, cuts) => {
      const bytes = Buffer.from(encode(frames));
      bytes[pos % bytes.length]! ^= 1 << bit;
      assert.deepEqual(run(splitAt(bytes, cuts)), oracle(bytes));
    }),
    { numRuns: RUNS },
  );
});
