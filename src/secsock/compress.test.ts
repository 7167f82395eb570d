import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { compressMessage, inflateBound, inflateMessage } from './compress.js';
import { DecodeError } from './errors.js';

const RUNS = 2000;
const text = Buffer.from('insel insel insel: a VPN toolkit. '.repeat(40));

/** The inflated bytes, or 'error' for a DecodeError; anything else fails. */
async function tryInflate(data: Uint8Array, max: number): Promise<Buffer | 'error'> {
  try {
    return await inflateMessage(Buffer.from(data), max);
  } catch (err) {
    if (err instanceof DecodeError) return 'error';
    throw err;
  }
}

test("'none' and short messages are sent as they are", () => {
  assert.deepEqual(compressMessage(text, 'none'), { data: text, compressed: false });
  const short = Buffer.alloc(127);
  assert.deepEqual(compressMessage(short, 'deflate'), { data: short, compressed: false });
  assert.equal(compressMessage(Buffer.alloc(128), 'deflate').compressed, true);
});

test('deflate only when it shrinks the message', async () => {
  const c = compressMessage(text, 'deflate');
  assert.equal(c.compressed, true);
  assert.ok(c.data.length < text.length / 5);
  assert.deepEqual(await inflateMessage(c.data, text.length), text);
  const noise = randomBytes(4096);
  const n = compressMessage(noise, 'deflate');
  assert.equal(n.compressed, false);
  assert.equal(n.data, noise);
});

test('inflation is bounded by maxMessage, inclusively', async () => {
  const c = compressMessage(text, 'deflate').data;
  assert.equal((await inflateMessage(c, text.length)).length, text.length);
  await assert.rejects(inflateMessage(c, text.length - 1), DecodeError);
});

test('a bomb inflates no further than max(64 KiB, 32 x its size), below maxMessage too', async () => {
  const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024));
  assert.ok(bomb.length < 128 * 1024);
  assert.equal(inflateBound(bomb.length, 16 * 1024 * 1024), 32 * bomb.length);
  await assert.rejects(inflateMessage(bomb, 16 * 1024 * 1024), (e: unknown) => e instanceof DecodeError && new RegExp(`inflates beyond ${32 * bomb.length} bytes`).test(e.message));
  const small = deflateRawSync(Buffer.alloc(1024 * 1024));
  await assert.rejects(inflateMessage(small, 16 * 1024 * 1024), (e: unknown) => e instanceof DecodeError && /inflates beyond 65536 bytes/.test(e.message));
});

test('the sender keeps to the ratio: a message deflating beyond it goes uncompressed', async () => {
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  assert.equal(compressMessage(zeros, 'deflate').compressed, false);
  const c = compressMessage(Buffer.alloc(60 * 1024), 'deflate');
  assert.equal(c.compressed, true, 'under the 64 KiB floor any ratio is fine');
  assert.equal((await inflateMessage(c.data, 16 * 1024 * 1024)).length, 60 * 1024);
});

test('empty and corrupt input are DecodeErrors', async () => {
  await assert.rejects(inflateMessage(Buffer.alloc(0), 100), DecodeError);
  await assert.rejects(inflateMessage(Buffer.from([0xff, 0xff, 0xff]), 100), DecodeError);
});

test('fuzz: whatever compressMessage sends, the receiver restores exactly', async () => {
  const msgArb = fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 200 })).map(([unit, n]) => Buffer.concat(Array(n).fill(unit))),
  );
  await fc.assert(
    fc.asyncProperty(msgArb, async (m) => {
      const msg = Buffer.from(m);
      const { data, compressed } = compressMessage(msg, 'deflate');
      assert.ok(data.length <= msg.length);
      assert.deepEqual(compressed ? await inflateMessage(data, msg.length) : data, msg);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: random bytes inflate within the bound or are a DecodeError', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 4096 }), async (b, max) => {
      const r = await tryInflate(b, max);
      if (r !== 'error') assert.ok(r.length <= max);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: truncated deflate streams are DecodeErrors; bit flips stay bounded', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 128, maxLength: 400 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), async (m, cut, pos, bit) => {
      // Half repetitive so deflate has structure to damage.
      const msg = Buffer.concat([Buffer.from(m), Buffer.from(m)]);
      const data = deflateRawSync(msg);
      assert.equal(await tryInflate(data.subarray(0, cut % data.length), msg.length), 'error');
      const flipped = Buffer.from(data);
      flipped[pos % flipped.length]! ^= 1 << bit;
      const r = await tryInflate(flipped, msg.length);
      if (r !== 'error') assert.ok(r.length <= msg.length);
    }),
    { numRuns: RUNS },
  );
});
