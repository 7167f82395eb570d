// UDP forwarding codec: byte vectors per message type (the diagram in
// wire.ts and docs/PROTOCOL.md), sizes, limits and the typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '../secsock/errors.js';
import { FlowDecodeError, ForwardError } from '../forward/errors.js';
import {
  decodeFlowMessage,
  encodeClose,
  encodeData,
  encodeDenied,
  encodeOpen,
  encodeOpenService,
  encodeOpened,
  FLOW_HEADER_SIZE,
  FlowType,
  MAX_DATAGRAM,
  MAX_HOST,
  MAX_REASON,
  OPEN_PORT_SIZE,
} from './wire.js';

const hex = (b: Buffer) => b.toString('hex');

test('sizes match the diagram', () => {
  assert.equal(FLOW_HEADER_SIZE, 5);
  assert.equal(OPEN_PORT_SIZE, 2);
  assert.equal(encodeOpened(1).length, FLOW_HEADER_SIZE);
  assert.equal(encodeOpen(1, 'a', 1).length, FLOW_HEADER_SIZE + OPEN_PORT_SIZE + 1);
  assert.equal(encodeData(1, Buffer.alloc(1200)).length, FLOW_HEADER_SIZE + 1200);
  assert.equal(encodeOpenService(1, 'rtp', 'id.secret').length, FLOW_HEADER_SIZE + 1 + 3 + 9);
  assert.deepEqual(FlowType, { OPEN: 1, OPENED: 2, DENIED: 3, DATA: 4, CLOSE: 5, OPEN_SERVICE: 6, ASSOCIATE: 7, DEST_DENIED: 8 });
});

test('vectors: each type, byte for byte', () => {
  assert.equal(hex(encodeOpen(0x01020304, '10.0.0.5', 53)), '01' + '01020304' + '0035' + Buffer.from('10.0.0.5').toString('hex'));
  assert.equal(hex(encodeOpened(7)), '02' + '00000007');
  assert.equal(hex(encodeDenied(0xffffffff, 'no')), '03' + 'ffffffff' + '6e6f');
  assert.equal(hex(encodeData(2, Buffer.from([0xde, 0xad]))), '04' + '00000002' + 'dead');
  assert.equal(hex(encodeClose(3)), '05' + '00000003');
  assert.equal(hex(encodeClose(3, 'idle')), '05' + '00000003' + Buffer.from('idle').toString('hex'));
  assert.equal(hex(encodeOpenService(4, 'rtp@b', '')), '06' + '00000004' + '05' + Buffer.from('rtp@b').toString('hex'));
  assert.equal(hex(encodeOpenService(4, 'rtp', 'T.s')), '06' + '00000004' + '03' + Buffer.from('rtpT.s').toString('hex'));
});

test('decode: every type round-trips', () => {
  assert.deepEqual(decodeFlowMessage(encodeOpen(9, 'dns.corp', 5353)), { type: FlowType.OPEN, flow: 9, host: 'dns.corp', port: 5353 });
  assert.deepEqual(decodeFlowMessage(encodeOpen(9, '::1', 1)), { type: FlowType.OPEN, flow: 9, host: '::1', port: 1 });
  assert.deepEqual(decodeFlowMessage(encodeOpened(0)), { type: FlowType.OPENED, flow: 0 });
  assert.deepEqual(decodeFlowMessage(encodeDenied(5, 'policy: alice may not reach 10.0.0.5:53 ✗')), { type: FlowType.DENIED, flow: 5, reason: 'policy: alice may not reach 10.0.0.5:53 ✗' });
  assert.deepEqual(decodeFlowMessage(encodeClose(5, '\ufeffbom kept')), { type: FlowType.CLOSE, flow: 5, reason: '\ufeffbom kept' });
  const d = decodeFlowMessage(encodeData(6, Buffer.alloc(0)));
  assert.equal(d.type, FlowType.DATA);
  assert.equal(d.type === FlowType.DATA && d.body.length, 0);
  const big = Buffer.alloc(MAX_DATAGRAM, 7);
  const back = decodeFlowMessage(encodeData(6, big));
  assert.ok(back.type === FlowType.DATA && back.body.equals(big));
});

test('long reasons are cut at a character boundary, still UTF-8', () => {
  const reason = 'x' + '€'.repeat(400); // 1 + 1200 bytes; the cut falls inside a 3-byte character
  const m = decodeFlowMessage(encodeDenied(1, reason));
  assert.ok(m.type === FlowType.DENIED);
  assert.ok(Buffer.byteLength(m.reason) <= MAX_REASON);
  assert.ok(reason.startsWith(m.reason));
  assert.equal(m.reason.length, 1 + Math.floor((MAX_REASON - 1) / 3));
});

test('malformed input: FlowDecodeError (a DecodeError, code INSEL_DECODE) naming what is wrong', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /shorter than its 5-byte header/],
    ['short header', Buffer.from([4, 0, 0, 0]), /shorter/],
    ['type 0', Buffer.from([0, 0, 0, 0, 1]), /unknown flow message type 0/],
    ['type 9', Buffer.from([9, 0, 0, 0, 1]), /unknown flow message type 9/],
    ['ASSOCIATE with a body', Buffer.from([7, 0, 0, 0, 1, 0]), /ASSOCIATE of flow 1 has a 1-byte body/],
    ['OPEN_SERVICE empty', Buffer.from([6, 0, 0, 0, 1]), /no service name/],
    ['OPEN_SERVICE n 0', Buffer.from([6, 0, 0, 0, 1, 0, 0x61]), /no service name/],
    ['OPEN_SERVICE n past the end', Buffer.from([6, 0, 0, 0, 1, 3, 0x61]), /no service name/],
    ['OPEN_SERVICE space', Buffer.from([6, 0, 0, 0, 1, 1, 0x61, 0x20]), /byte 0x20/],
    ['OPEN_SERVICE ticket too long', Buffer.concat([Buffer.from([6, 0, 0, 0, 1, 1, 0x61]), Buffer.alloc(256, 0x61)]), /ticket longer than 255/],
    ['OPEN without host', Buffer.from([1, 0, 0, 0, 1, 0, 53]), /no host/],
    ['OPEN port 0', Buffer.from([1, 0, 0, 0, 1, 0, 0, 0x61]), /port 0/],
    ['OPEN host with space', Buffer.from([1, 0, 0, 0, 1, 0, 53, 0x61, 0x20]), /byte 0x20/],
    ['OPEN host non-ASCII', Buffer.from([1, 0, 0, 0, 1, 0, 53, 0xc3, 0xa9]), /byte 0xc3/],
    ['OPEN host too long', Buffer.concat([Buffer.from([1, 0, 0, 0, 1, 0, 53]), Buffer.alloc(MAX_HOST + 1, 0x61)]), /longer than 255/],
    ['OPENED with body', Buffer.from([2, 0, 0, 0, 1, 0]), /must be empty/],
    ['DENIED not UTF-8', Buffer.from([3, 0, 0, 0, 1, 0xff]), /not UTF-8/],
    ['CLOSE truncated UTF-8', Buffer.from([5, 0, 0, 0, 1, 0xe2, 0x82]), /not UTF-8/],
    ['CLOSE reason too long', Buffer.concat([Buffer.from([5, 0, 0, 0, 1]), Buffer.alloc(MAX_REASON + 1, 0x61)]), /longer than 512/],
    ['DATA too large', Buffer.concat([Buffer.from([4, 0, 0, 0, 1]), Buffer.alloc(MAX_DATAGRAM + 1)]), /more than 65535/],
  ];
  for (const [name, buf, re] of cases) {
    assert.throws(
      () => decodeFlowMessage(buf),
      (err: unknown) => err instanceof FlowDecodeError && err instanceof DecodeError && err.code === 'INSEL_DECODE' && re.test(err.message),
      name,
    );
  }
  // The longest valid host and reason are fine.
  assert.equal(decodeFlowMessage(encodeOpen(1, 'h'.repeat(MAX_HOST), 65535)).type, FlowType.OPEN);
  assert.equal(decodeFlowMessage(encodeClose(1, 'r'.repeat(MAX_REASON))).type, FlowType.CLOSE);
});

test('encodeOpen refuses what cannot be on the wire, with a typed error', () => {
  for (const [host, port] of [
    ['', 53],
    ['h'.repeat(MAX_HOST + 1), 53],
    ['bad host', 53],
    ['bücher.example', 53],
    ['ok', 0],
    ['ok', 65536],
    ['ok', 1.5],
  ] as const) {
    assert.throws(
      () => encodeOpen(1, host, port),
      (err: unknown) => err instanceof ForwardError && err.code === 'INSEL_FORWARD_BAD_TARGET',
      `${host}:${port}`,
    );
  }
});
