// Each rule a peer can break, performed against a session over a socket
// double: the session ends with GOAWAY carrying the right code, 'close' gives
// the reason, and the error is a MuxError. Limits an honest peer can hit
// refuse one stream and leave the session up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { FLAG_ACK, FLAG_FIN, FrameType, MuxCode } from './constants.js';
import { MuxError } from './errors.js';
import { codeFrame, dataHeader, decodeCode, encodeFrame, windowFrame } from './frame.js';
import { encodeHeaders } from './headers.js';
import type { MuxLimits } from './limits.js';
import { MuxSession } from './session.js';
import type { MuxStream } from './stream.js';
import { WireDouble } from './testing.js';

function serverOn(limits: Partial<MuxLimits> = {}, wire = new WireDouble(), now?: () => number) {
  const s = new MuxSession(wire, { side: 'server', peer: 'peer', limits, ...(now === undefined ? {} : { now }) });
  const streams: MuxStream[] = [];
  s.on('stream', (st: MuxStream) => {
    streams.push(st);
    st.on('data', () => undefined);
  });
  const closed = new Promise<{ reason: string; err: MuxError | undefined }>((r) => s.once('close', (reason: string, err?: MuxError) => r({ reason, err })));
  return { s, wire, streams, closed };
}

const open = (id: number, flags = 0) => encodeFrame(FrameType.OPEN, flags, id, encodeHeaders({ ':target': 't' }));
const data = (id: number, n: number, flags = 0) => Buffer.concat([dataHeader(flags, id, n), Buffer.alloc(n, 1)]);
const reply = (id: number) => encodeFrame(FrameType.REPLY, 0, id, encodeHeaders({}));
const raw = (hex: string) => Buffer.from(hex.replace(/\s/g, ''), 'hex');

const KILLS: [string, Buffer[], 'INSEL_MUX_PROTOCOL' | 'INSEL_MUX_FLOW_CONTROL', RegExp][] = [
  ['DATA on a stream never opened', [data(1, 1)], 'INSEL_MUX_PROTOCOL', /never opened/],
  ['WINDOW on one of our ids never opened', [windowFrame(2, 5)], 'INSEL_MUX_PROTOCOL', /never opened/],
  ['OPEN with our parity', [open(2)], 'INSEL_MUX_PROTOCOL', /our parity/],
  ['OPEN with a decreasing id', [open(5), open(3)], 'INSEL_MUX_PROTOCOL', /must increase/],
  ['OPEN reusing an id', [open(1), open(1)], 'INSEL_MUX_PROTOCOL', /must increase/],
  ['an unknown frame type', [raw('09 00 00000001 00000000')], 'INSEL_MUX_PROTOCOL', /unknown frame type 9/],
  ['a length over the maximum', [open(1), raw('00 00 00000001 7fffffff')], 'INSEL_MUX_PROTOCOL', /payload of 2147483647/],
  ['a bad header block', [raw('01 00 00000001 00000003 000101')], 'INSEL_MUX_PROTOCOL', /header block/],
  ['DATA beyond the window', [open(1), data(1, 1001)], 'INSEL_MUX_FLOW_CONTROL', /1001 bytes on stream 1, which had 1000/],
  ['DATA beyond the window over two frames', [open(1), data(1, 600), data(1, 401)], 'INSEL_MUX_FLOW_CONTROL', /which had 400/],
  ['WINDOW of 0', [open(1), windowFrame(1, 0)], 'INSEL_MUX_PROTOCOL', /WINDOW of 0/],
  ['WINDOW past 2^32', [open(1), windowFrame(1, 0xffffffff)], 'INSEL_MUX_FLOW_CONTROL', /past/],
  ['REPLY on a stream the peer opened', [open(1), reply(1)], 'INSEL_MUX_PROTOCOL', /which the peer opened/],
  ['DATA after FIN', [open(1), data(1, 1, FLAG_FIN), data(1, 1)], 'INSEL_MUX_PROTOCOL', /after the peer ended it/],
  ['DATA after an OPEN with FIN', [open(1, FLAG_FIN), data(1, 1)], 'INSEL_MUX_PROTOCOL', /after the peer ended it/],
  ['PING on a stream', [raw('05 00 00000001 00000008 0000000000000000')], 'INSEL_MUX_PROTOCOL', /on stream 1, not on stream 0/],
];

for (const [what, frames, code, reason] of KILLS) {
  test(`${what}: GOAWAY, MuxError ${code}`, async () => {
    const t = serverOn({ initialWindow: 1000 });
    t.wire.input(Buffer.concat(frames));
    const { reason: why, err } = await t.closed;
    assert.ok(err instanceof MuxError);
    assert.equal(err.code, code);
    assert.equal(err.peer, 'peer');
    assert.match(why, reason);
    assert.ok(t.s.closed);
    const last = t.wire.frames().at(-1)!;
    assert.equal(last.type, FrameType.GOAWAY);
    assert.equal(decodeCode(last.payload).code, err.muxCode);
    assert.match(decodeCode(last.payload).reason, reason);
    for (const st of t.streams) assert.ok(st.destroyed);
    assert.throws(() => t.s.open({}), (e: unknown) => e instanceof MuxError && e.code === 'INSEL_MUX_CLOSED');
  });
}

test('DATA for a stream we reset is dropped within the credit it had, and a violation beyond it', async () => {
  const t = serverOn({ initialWindow: 1000 });
  t.wire.input(Buffer.concat([open(1), data(1, 100)]));
  await tick();
  t.streams[0]!.reset(MuxCode.CANCEL, 'not wanted');
  t.wire.input(data(1, 900));
  await tick();
  assert.equal(t.s.closed, false);
  assert.equal(t.s.bufferedBytes, 0);
  t.wire.input(data(1, 1));
  const { err } = await t.closed;
  assert.equal(err?.code, 'INSEL_MUX_FLOW_CONTROL');
  const reset = t.wire.frames().find((f) => f.type === FrameType.RESET)!;
  assert.deepEqual(decodeCode(reset.payload), { code: MuxCode.CANCEL, reason: 'not wanted' });
});

test('PING is answered with ACK and the same 8 bytes; an ACK is not answered', async () => {
  const t = serverOn();
  t.wire.input(encodeFrame(FrameType.PING, 0, 0, Buffer.from('12345678')));
  t.wire.input(encodeFrame(FrameType.PING, FLAG_ACK, 0, Buffer.from('abcdefgh')));
  await tick();
  const pongs = t.wire.frames().filter((f) => f.type === FrameType.PING);
  assert.equal(pongs.length, 1);
  assert.equal(pongs[0]!.flags, FLAG_ACK);
  assert.equal(pongs[0]!.payload.toString(), '12345678');
});

test("the peer's GOAWAY: 'goaway', then every stream gets 'reset' with its reason, then 'close'", async () => {
  const t = serverOn();
  const goaway = new Promise((r) => t.s.once('goaway', (code: number, reason: string) => r([code, reason])));
  t.wire.input(open(1));
  await tick();
  const reset = new Promise((r) => t.streams[0]!.once('reset', (code: number, reason: string) => r([code, reason])));
  t.wire.input(codeFrame(FrameType.GOAWAY, 0, MuxCode.CUT, 'certificate revoked'));
  assert.deepEqual(await goaway, [MuxCode.CUT, 'certificate revoked']);
  assert.match((await t.closed).reason, /GOAWAY 3: certificate revoked/);
  assert.deepEqual(await reset, [MuxCode.CUT, 'the peer sent GOAWAY 3: certificate revoked']);
  assert.equal(t.s.streamCount, 0);
});

test('too many streams: OPEN beyond maxStreams is refused (RESET REFUSED), the session stays', async () => {
  const t = serverOn({ maxStreams: 2 });
  t.wire.input(Buffer.concat([open(1), open(3), open(5)]));
  await tick();
  assert.equal(t.streams.length, 2);
  const resets = t.wire.frames().filter((f) => f.type === FrameType.RESET);
  assert.equal(resets.length, 1);
  assert.equal(resets[0]!.id, 5);
  assert.deepEqual(decodeCode(resets[0]!.payload), { code: MuxCode.REFUSED, reason: 'too many streams: 2 open, maxStreams is 2' });
  // A stream that ends frees its place.
  t.streams[0]!.reset(MuxCode.CANCEL, 'done');
  t.wire.input(open(7));
  await tick();
  assert.equal(t.streams.length, 3);
  assert.equal(t.s.closed, false);
});

test('too many OPENs per second: refused beyond the bucket, accepted again as it refills', async () => {
  let now = 0;
  const t = serverOn({ opensPerSecond: 3 }, new WireDouble(), () => now);
  t.wire.input(Buffer.concat([1, 3, 5, 7, 9].map((id) => open(id, FLAG_FIN))));
  await tick();
  assert.equal(t.streams.length, 3);
  const refused = t.wire.frames().filter((f) => f.type === FrameType.RESET);
  assert.deepEqual(refused.map((f) => f.id), [7, 9]);
  assert.deepEqual(decodeCode(refused[0]!.payload), { code: MuxCode.REFUSED, reason: 'too many OPENs: more than 3 per second' });
  now = 400;
  t.wire.input(open(11, FLAG_FIN));
  await tick();
  assert.equal(t.streams.length, 4);
  assert.equal(t.s.closed, false);
});

test('buffered bytes beyond maxBufferedPerSession: GOAWAY FLOW_CONTROL', async () => {
  // Each stream within its window, together over the session's limit.
  const t = serverOn({ initialWindow: 200_000, maxBufferedPerSession: 300_000 });
  for (const st of t.streams) st.pause();
  t.wire.input(Buffer.concat([open(1), open(3)]));
  await tick();
  for (const st of t.streams) {
    st.removeAllListeners('data');
    st.pause();
  }
  t.wire.input(Buffer.concat([data(1, 200_000), data(3, 100_001)]));
  const { err, reason } = await t.closed;
  assert.equal(err?.code, 'INSEL_MUX_FLOW_CONTROL');
  assert.match(reason, /300001 bytes buffered, more than maxBufferedPerSession \(300000\)/);
});

test('a peer that sends OPENs and never reads our answers: GOAWAY once our control backlog passes its cap', async () => {
  const t = serverOn({ opensPerSecond: 1 }, new WireDouble(true), () => 0);
  const opens: Buffer[] = [];
  for (let id = 1; id < 2 * 30_000; id += 2) opens.push(open(id, FLAG_FIN));
  t.wire.input(Buffer.concat(opens));
  const { err, reason } = await t.closed;
  assert.equal(err?.code, 'INSEL_MUX_FLOW_CONTROL');
  assert.match(reason, /control frames wait for the peer to read/);
});
