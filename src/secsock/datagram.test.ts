import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DGRAM_HEADER_SIZE, DGRAM_TYPE_SEALED, FLAG_COMPRESSED, FRAG_HEADER_SIZE, INNER_HEADER_SIZE, InnerKind } from './constants.js';
import { decodeHeader, decodeInner, writeFragmentHeader, writeHeader, writeInner, type DatagramHeader } from './datagram.js';
import { DecodeError } from './errors.js';

const blank = (): DatagramHeader => ({ type: 0, epoch: 0, channelId: 0, counter: 0 });

test('sizes: header 14, inner 2, fragment 8', () => {
  assert.equal(DGRAM_HEADER_SIZE, 1 + 1 + 4 + 8);
  assert.equal(INNER_HEADER_SIZE, 2);
  assert.equal(FRAG_HEADER_SIZE, 4 + 2 + 2);
});

test('header layout: type, epoch, channel u32be, counter u64be', () => {
  const b = Buffer.alloc(DGRAM_HEADER_SIZE);
  writeHeader(b, 0xab, 0x01020304, 2 ** 40 + 0x05060708);
  assert.deepEqual([...b], [DGRAM_TYPE_SEALED, 0xab, 1, 2, 3, 4, 0, 0, 1, 0, 5, 6, 7, 8]);
  assert.deepEqual(decodeHeader(b, blank()), { type: DGRAM_TYPE_SEALED, epoch: 0xab, channelId: 0x01020304, counter: 2 ** 40 + 0x05060708 });
});

test('decodeHeader fills and returns the caller’s object', () => {
  const b = Buffer.alloc(DGRAM_HEADER_SIZE + 5);
  writeHeader(b, 1, 2, 3);
  const out = blank();
  assert.equal(decodeHeader(b, out), out);
  assert.equal(out.counter, 3);
});

test('counters up to 2^53 - 1 are exact; beyond is a DecodeError', () => {
  const b = Buffer.alloc(DGRAM_HEADER_SIZE);
  writeHeader(b, 0, 1, Number.MAX_SAFE_INTEGER);
  assert.equal(decodeHeader(b, blank()).counter, Number.MAX_SAFE_INTEGER);
  b.writeUInt32BE(2 ** 21, 6);
  b.writeUInt32BE(0, 10);
  assert.throws(() => decodeHeader(b, blank()), DecodeError);
  b.writeUInt32BE(0xffffffff, 6);
  assert.throws(() => decodeHeader(b, blank()), DecodeError);
});

test('short datagrams and unknown types are DecodeErrors', () => {
  assert.throws(() => decodeHeader(Buffer.alloc(0), blank()), DecodeError);
  const b = Buffer.alloc(DGRAM_HEADER_SIZE);
  writeHeader(b, 0, 1, 1);
  assert.throws(() => decodeHeader(b.subarray(0, DGRAM_HEADER_SIZE - 1), blank()), DecodeError);
  b[0] = 2;
  assert.throws(() => decodeHeader(b, blank()), DecodeError);
  b[0] = 0;
  assert.throws(() => decodeHeader(b, blank()), DecodeError);
});

test('inner DATA, KEEPALIVE, CLOSE carry their body after two bytes', () => {
  for (const kind of [InnerKind.DATA, InnerKind.KEEPALIVE, InnerKind.CLOSE]) {
    const b = Buffer.alloc(INNER_HEADER_SIZE + 3);
    assert.equal(writeInner(b, 0, kind, FLAG_COMPRESSED), INNER_HEADER_SIZE);
    b.write('bye', INNER_HEADER_SIZE);
    assert.deepEqual(decodeInner(b), { kind, flags: FLAG_COMPRESSED, msgId: 0, index: 0, count: 1, body: Buffer.from('bye') });
  }
  assert.deepEqual(decodeInner(Buffer.from([InnerKind.KEEPALIVE, 0])).body, Buffer.alloc(0));
});

test('inner FRAGMENT: msg id u32be, index u16be, count u16be, then bytes', () => {
  const b = Buffer.alloc(INNER_HEADER_SIZE + FRAG_HEADER_SIZE + 2);
  let at = writeInner(b, 0, InnerKind.FRAGMENT, 0);
  at = writeFragmentHeader(b, at, 0xdeadbeef, 3, 0xffff);
  assert.equal(at, INNER_HEADER_SIZE + FRAG_HEADER_SIZE);
  b.write('xy', at);
  assert.deepEqual([...b.subarray(0, at)], [InnerKind.FRAGMENT, 0, 0xde, 0xad, 0xbe, 0xef, 0, 3, 0xff, 0xff]);
  assert.deepEqual(decodeInner(b), { kind: InnerKind.FRAGMENT, flags: 0, msgId: 0xdeadbeef, index: 3, count: 0xffff, body: Buffer.from('xy') });
});

test('impossible fragments and unknown kinds or flags are DecodeErrors', () => {
  const frag = (index: number, count: number) => {
    const b = Buffer.alloc(INNER_HEADER_SIZE + FRAG_HEADER_SIZE);
    writeFragmentHeader(b, writeInner(b, 0, InnerKind.FRAGMENT, 0), 1, index, count);
    return b;
  };
  assert.throws(() => decodeInner(frag(0, 1)), DecodeError);
  assert.throws(() => decodeInner(frag(0, 0)), DecodeError);
  assert.throws(() => decodeInner(frag(2, 2)), DecodeError);
  assert.equal(decodeInner(frag(1, 2)).index, 1);
  assert.throws(() => decodeInner(frag(0, 2).subarray(0, INNER_HEADER_SIZE + FRAG_HEADER_SIZE - 1)), DecodeError);
  assert.throws(() => decodeInner(Buffer.from([4, 0])), DecodeError);
  assert.throws(() => decodeInner(Buffer.from([InnerKind.DATA, 0x01])), DecodeError);
  assert.throws(() => decodeInner(Buffer.from([InnerKind.DATA])), DecodeError);
  assert.throws(() => decodeInner(Buffer.alloc(0)), DecodeError);
});
