import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAG_COMPRESSED, FLAG_MORE, FRAME_HEADER_SIZE, FrameType } from './constants.js';
import { DecodeError } from './errors.js';
import { FrameDecoder, encodeFrame, writeFrameHeader, type Frame } from './frame.js';

const drain = (d: FrameDecoder): Frame[] => {
  const out: Frame[] = [];
  for (let f = d.next(); f !== undefined; f = d.next()) out.push(f);
  return out;
};

test('the header is type, flags, u32be length: 6 bytes', () => {
  assert.equal(FRAME_HEADER_SIZE, 6);
  const f = encodeFrame(FrameType.DATA, FLAG_MORE | FLAG_COMPRESSED, Buffer.from('abc'));
  assert.deepEqual([...f], [FrameType.DATA, 0x03, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
  const h = Buffer.alloc(8, 0xee);
  writeFrameHeader(h, 1, FrameType.HELLO, 0, 0x01020304);
  assert.deepEqual([...h], [0xee, FrameType.HELLO, 0, 1, 2, 3, 4, 0xee]);
});

test('decodes a frame fed one byte at a time, and an empty payload', () => {
  const d = new FrameDecoder(1024);
  const bytes = Buffer.concat([encodeFrame(FrameType.HELLO, 0, Buffer.from('hello')), encodeFrame(FrameType.CLOSE, 0, Buffer.alloc(0))]);
  const got: Frame[] = [];
  for (const b of bytes) {
    d.push(Buffer.from([b]));
    got.push(...drain(d));
  }
  assert.equal(got.length, 2);
  assert.deepEqual(got[0], { type: FrameType.HELLO, flags: 0, payload: Buffer.from('hello') });
  assert.deepEqual(got[1], { type: FrameType.CLOSE, flags: 0, payload: Buffer.alloc(0) });
  assert.equal(d.pending, 0);
});

test('pending counts bytes of an incomplete frame; empty pushes are ignored', () => {
  const d = new FrameDecoder(1024);
  const f = encodeFrame(FrameType.DATA, 0, Buffer.alloc(100, 1));
  d.push(Buffer.alloc(0));
  d.push(f.subarray(0, 50));
  assert.equal(d.next(), undefined);
  assert.equal(d.pending, 50);
  d.push(f.subarray(50));
  assert.equal(d.next()?.payload.length, 100);
  assert.equal(d.pending, 0);
});

test('a payload in one chunk is not copied', () => {
  const d = new FrameDecoder(1024);
  const f = encodeFrame(FrameType.DATA, 0, Buffer.alloc(10, 7));
  d.push(f);
  const got = d.next()!;
  assert.equal(got.payload.buffer, f.buffer);
  assert.equal(got.payload.byteOffset, f.byteOffset + FRAME_HEADER_SIZE);
});

test('unknown type or flags are a DecodeError as soon as the header is in', () => {
  const bad = (head: number[]) => {
    const d = new FrameDecoder(1024);
    d.push(Buffer.from(head));
    assert.throws(() => d.next(), DecodeError);
  };
  bad([0, 0, 0, 0, 0, 0]);
  bad([0xff, 0, 0, 0, 0, 1]);
  bad([FrameType.DATA, 0x04, 0, 0, 0, 1]);
  bad([FrameType.DATA, 0x80, 0, 0, 0, 0]);
});

test('the size limit is inclusive and checked before the payload arrives', () => {
  const d = new FrameDecoder(16);
  d.push(encodeFrame(FrameType.DATA, 0, Buffer.alloc(16)));
  assert.equal(d.next()?.payload.length, 16);
  const over = new FrameDecoder(16);
  over.push(encodeFrame(FrameType.DATA, 0, Buffer.alloc(17)).subarray(0, FRAME_HEADER_SIZE));
  assert.throws(() => over.next(), (e: unknown) => e instanceof DecodeError && /17 bytes exceeds the limit of 16/.test(e.message));
  const huge = new FrameDecoder(16);
  huge.push(Buffer.from([FrameType.DATA, 0, 0xff, 0xff, 0xff, 0xff]));
  assert.throws(() => huge.next(), DecodeError);
});

test('withLimit changes the limit for the frames that follow', () => {
  const d = new FrameDecoder(8);
  d.push(encodeFrame(FrameType.HELLO, 0, Buffer.alloc(8)));
  d.push(encodeFrame(FrameType.DATA, 0, Buffer.alloc(100)));
  assert.equal(d.next()?.type, FrameType.HELLO);
  assert.throws(() => d.next(), DecodeError);
  assert.equal(d.withLimit(100), d);
  assert.equal(d.next()?.payload.length, 100);
});

test('a header split over chunks smaller than itself decodes', () => {
  const d = new FrameDecoder(1 << 20);
  const f = encodeFrame(FrameType.DATA, FLAG_MORE, Buffer.alloc(70_000, 3));
  d.push(f.subarray(0, 2));
  d.push(f.subarray(2, 3));
  d.push(f.subarray(3, 5));
  assert.equal(d.next(), undefined);
  d.push(f.subarray(5, 40_000));
  assert.equal(d.next(), undefined);
  d.push(f.subarray(40_000));
  const got = d.next()!;
  assert.equal(got.flags, FLAG_MORE);
  assert.ok(got.payload.equals(Buffer.alloc(70_000, 3)));
});
