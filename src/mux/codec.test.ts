// Frames and header blocks: sizes and offsets as docs/PROTOCOL.md §5.1 draws
// them, round trips through the decoder in any split, and the refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAG_ACK, FLAG_FIN, FRAME_HEADER_SIZE, FrameType, MAX_HEADER_BLOCK, MAX_REASON, MuxCode } from './constants.js';
import { MuxError } from './errors.js';
import { FrameDecoder, codeFrame, dataHeader, decodeCode, encodeFrame, windowFrame } from './frame.js';
import { decodeHeaders, encodeHeaders } from './headers.js';
import { collector } from './testing.js';

test('the header is type, flags, stream id u32be, length u32be: 10 bytes', () => {
  const h = dataHeader(FLAG_FIN, 0x01020304, 0x0a0b0c0d);
  assert.equal(FRAME_HEADER_SIZE, 10);
  assert.deepEqual([...h], [0, 1, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
  assert.deepEqual([...windowFrame(5, 65536)], [3, 0, 0, 0, 0, 5, 0, 0, 0, 4, 0, 1, 0, 0]);
  assert.deepEqual([...codeFrame(FrameType.RESET, 7, MuxCode.REFUSED, 'no')], [4, 0, 0, 0, 0, 7, 0, 0, 0, 6, 0, 0, 0, 2, 0x6e, 0x6f]);
});

test('a header block: u16 count, then u8 name length, name, u16 value length, value', () => {
  const b = encodeHeaders({ ':t': 'ü', x: '' });
  assert.deepEqual([...b], [0, 2, 2, 0x3a, 0x74, 0, 2, 0xc3, 0xbc, 1, 0x78, 0, 0]);
  assert.deepEqual({ ...decodeHeaders(b) }, { ':t': 'ü', x: '' });
});

test('every frame type round-trips through the decoder, fed one byte at a time and whole', () => {
  const frames = [
    encodeFrame(FrameType.OPEN, 0, 1, encodeHeaders({ ':target': 'db:5432' })),
    Buffer.concat([dataHeader(0, 1, 3), Buffer.from('abc')]),
    Buffer.concat([dataHeader(FLAG_FIN, 1, 0)]),
    encodeFrame(FrameType.REPLY, FLAG_FIN, 1, encodeHeaders({ ':status': 'ok' })),
    windowFrame(1, 4096),
    codeFrame(FrameType.RESET, 3, MuxCode.CUT, 'revoked'),
    encodeFrame(FrameType.PING, FLAG_ACK, 0, Buffer.alloc(8, 9)),
    codeFrame(FrameType.GOAWAY, 0, 0, 'bye'),
  ];
  const wire = Buffer.concat(frames);
  for (const step of [1, 3, 11, wire.length]) {
    const c = collector();
    const d = new FrameDecoder(c.sink);
    for (let at = 0; at < wire.length; at += step) d.push(wire.subarray(at, at + step));
    assert.equal(c.frames.length, frames.length);
    assert.deepEqual(
      c.frames.map((f) => encodeFrame(f.type, f.flags, f.id, f.payload)),
      frames,
    );
    assert.equal(c.frames[1]!.payload.toString(), 'abc');
    assert.equal(c.frames[2]!.flags, FLAG_FIN);
    assert.deepEqual(decodeCode(c.frames[5]!.payload), { code: MuxCode.CUT, reason: 'revoked' });
    assert.equal(c.frames[4]!.payload.readUInt32BE(0), 4096);
  }
});

test('DATA arrives as pieces of the chunks it came in, never joined', () => {
  const c = collector();
  const d = new FrameDecoder(c.sink);
  const frame = Buffer.concat([dataHeader(0, 1, 30_000), Buffer.alloc(30_000, 1)]);
  for (let at = 0; at < frame.length; at += 16_384) d.push(frame.subarray(at, at + 16_384));
  assert.equal(c.frames.length, 1);
  assert.equal(c.frames[0]!.payload.length, 30_000);
  assert.equal(c.pieces, 2);
});

test('a reason is cut to 1024 bytes on a character boundary', () => {
  const f = codeFrame(FrameType.GOAWAY, 0, 1, 'é'.repeat(600));
  const { reason } = decodeCode(f.subarray(FRAME_HEADER_SIZE));
  assert.equal(reason, 'é'.repeat(512));
  assert.ok(f.length - FRAME_HEADER_SIZE - 4 <= MAX_REASON);
});

test('frames that can never be valid throw MuxError PROTOCOL', () => {
  const bad = [
    Buffer.from([7, 0, 0, 0, 0, 1, 0, 0, 0, 0]), // unknown type
    Buffer.from([0, 2, 0, 0, 0, 1, 0, 0, 0, 0]), // DATA with the ACK flag
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // DATA on stream 0
    Buffer.from([5, 0, 0, 0, 0, 1, 0, 0, 0, 8]), // PING on a stream
    Buffer.from([3, 0, 0, 0, 0, 1, 0, 0, 0, 5]), // WINDOW of 5 bytes
    Buffer.from([0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]), // oversized DATA
    Buffer.from([1, 0, 0, 0, 0, 1, 0, 0, 0x40, 1]), // OPEN over 16 KiB
    Buffer.from([4, 0, 0, 0, 0, 1, 0, 0, 4, 5]), // RESET reason over 1024
  ];
  for (const b of bad) {
    const d = new FrameDecoder(collector().sink);
    assert.throws(() => d.push(b), (e: unknown) => e instanceof MuxError && e.code === 'INSEL_MUX_PROTOCOL', b.toString('hex'));
  }
});

test('header blocks: bad names, duplicates, sizes and UTF-8 are refused', () => {
  const bad = (h: Record<string, string>) => assert.throws(() => encodeHeaders(h), (e: unknown) => e instanceof MuxError && e.code === 'INSEL_MUX_BAD_HEADERS');
  bad({ Upper: 'x' });
  bad({ '': 'x' });
  bad({ 'a:b': 'x' });
  bad({ ['n'.repeat(65)]: 'x' });
  bad(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`h${i}`, ''])));
  bad({ big: 'x'.repeat(MAX_HEADER_BLOCK) });
  const refused = (hex: string) => assert.throws(() => decodeHeaders(Buffer.from(hex, 'hex')), (e: unknown) => e instanceof MuxError && e.code === 'INSEL_MUX_PROTOCOL', hex);
  refused('00');
  refused('0001');
  refused('000101610000'.slice(0, 10));
  refused('0002016100000161000000'.slice(0, 22)); // "a" twice
  refused('00010141' + '0000'); // upper-case name
  refused('0001016100' + '01ff'); // value not UTF-8
  refused('000101610000ff'); // a byte after the last header
  const proto = decodeHeaders(encodeHeaders({ __proto__x: '1', ['__proto__']: 'p' } as Record<string, string>));
  assert.equal(Object.getPrototypeOf(proto), null);
});
