// FrameDecoder against a slow DataView oracle over the concatenated stream:
// random bytes in random chunks, valid streams split anywhere, truncated and
// bit-flipped. The decoder must agree with the oracle, and throw nothing but
// DecodeError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FRAME_FLAGS_KNOWN, FrameType } from './constants.js';
import { DecodeError } from './errors.js';
import { FrameDecoder, encodeFrame } from './frame.js';

const RUNS = 2000;
const TYPES = Object.values(FrameType) as number[];

interface Outcome {
  frames: { type: number; flags: number; payload: number[] }[];
  end: 'need_more' | 'error';
  /** Bytes left after the last whole frame (need_more only). */
  rest: number;
}

/** The reference: parse the whole stream with a DataView. */
function oracle(bytes: Uint8Array, max: number): Outcome {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Outcome['frames'] = [];
  let at = 0;
  for (;;) {
    if (bytes.length - at < 6) return { frames, end: 'need_more', rest: bytes.length - at };
    const type = view.getUint8(at);
    const flags = view.getUint8(at + 1);
    const len = view.getUint32(at + 2, false);
    if (!TYPES.includes(type) || (flags & ~FRAME_FLAGS_KNOWN) !== 0 || len > max) return { frames, end: 'error', rest: 0 };
    if (bytes.length - at - 6 < len) return { frames, end: 'need_more', rest: bytes.length - at };
    frames.push({ type, flags, payload: [...bytes.subarray(at + 6, at + 6 + len)] });
    at += 6 + len;
  }
}

/** Feeds chunks one by one, draining after each, as a socket would. */
function run(chunks: Uint8Array[], max: number): Outcome {
  const d = new FrameDecoder(max);
  const frames: Outcome['frames'] = [];
  try {
    for (const c of chunks) {
      d.push(Buffer.from(c));
      for (let f = d.next(); f !== undefined; f = d.next()) frames.push({ type: f.type, flags: f.flags, payload: [...f.payload] });
    }
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    return { frames, end: 'error', rest: 0 };
  }
  return { frames, end: 'need_more', rest: d.pending };
}

/** Splits bytes at the given cut points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

const frameArb = fc.record({
  type: fc.constantFrom(...TYPES),
  flags: fc.integer({ min: 0, max: FRAME_FLAGS_KNOWN }),
  payload: fc.uint8Array({ maxLength: 300 }),
});
const streamArb = fc.array(frameArb, { maxLength: 8 });
const encode = (frames: { type: number; flags: number; payload: Uint8Array }[]) =>
  Buffer.concat(frames.map((f) => encodeFrame(f.type, f.flags, f.payload)));
const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

test('fuzz: random bytes in random chunks agree with the oracle', () => {
  // Biased toward plausible headers: a known type first, small lengths.
  const headish = fc.tuple(fc.constantFrom(...TYPES), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 40 }), fc.uint8Array({ maxLength: 50 }))
    .map(([t, f, l, rest]) => Uint8Array.from([t, f, 0, 0, 0, l, ...rest]));
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), headish), { maxLength: 10 }), fc.integer({ min: 0, max: 128 }), (chunks, max) => {
      const whole = Buffer.concat(chunks);
      assert.deepEqual(run(chunks, max), oracle(whole, max));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: valid streams round-trip exactly, split anywhere', () => {
  fc.assert(
    fc.property(streamArb, cutsArb, (frames, cuts) => {
      const bytes = encode(frames);
      const got = run(split(bytes, cuts), 300);
      assert.equal(got.end, 'need_more');
      assert.equal(got.rest, 0);
      assert.deepEqual(
        got.frames,
        frames.map((f) => ({ type: f.type, flags: f.flags, payload: [...f.payload] })),
      );
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: a truncated valid stream yields its whole frames and waits', () => {
  fc.assert(
    fc.property(streamArb.filter((f) => f.length > 0), fc.nat(), cutsArb, (frames, cut, cuts) => {
      const bytes = encode(frames);
      const short = bytes.subarray(0, cut % bytes.length);
      const got = run(split(short, cuts), 300);
      assert.equal(got.end, 'need_more');
      assert.deepEqual(got, oracle(short, 300));
      assert.ok(got.frames.length < frames.length);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: bit flips of a valid stream decode as the oracle says, or throw DecodeError', () => {
  fc.assert(
    fc.property(streamArb.filter((f) => f.length > 0), fc.nat(), fc.integer({ min: 0, max: 7 }), cutsArb, fc.integer({ min: 0, max: 300 }), (frames, pos, bit, cuts, max) => {
      const bytes = Buffer.from(encode(frames));
      bytes[pos % bytes.length]! ^= 1 << bit;
      assert.deepEqual(run(split(bytes, cuts), max), oracle(bytes, max));
    }),
    { numRuns: RUNS },
  );
});
