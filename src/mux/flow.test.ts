// Credit, seen on the wire of a socket double: the sender stops at its
// credit and goes on with each WINDOW; the receiver returns credit in
// quarter-window batches once its reader took the data, and doubles a window
// the peer used up while the reader kept up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { FrameType } from './constants.js';
import { dataHeader, encodeFrame, windowFrame } from './frame.js';
import { encodeHeaders } from './headers.js';
import { MuxSession } from './session.js';
import type { MuxStream } from './stream.js';
import { WireDouble, type Seen } from './testing.js';

const WINDOW = 64 * 1024;
const limits = { initialWindow: WINDOW, maxWindow: 4 * WINDOW };
const sentData = (frames: Seen[]) => frames.filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
/** DATA of `n` bytes on stream 1, the peer's first. */
const data = (n: number) => Buffer.concat([dataHeader(0, 1, n), Buffer.alloc(n)]);

/** A server session over a socket double that accepts the peer's streams; `stream()` is the last. */
function acceptor() {
  const wire = new WireDouble();
  const s = new MuxSession(wire, { side: 'server', limits });
  let last: MuxStream | undefined;
  s.on('stream', (x: MuxStream) => {
    last = x;
    x.respond({});
  });
  return { wire, s, stream: () => last! };
}

const windows = (frames: Seen[]) => frames.filter((f) => f.type === FrameType.WINDOW).map((f) => f.payload.readUInt32BE(0));

test('the sender stops at its credit and goes on with each WINDOW', async () => {
  const wire = new WireDouble();
  const s = new MuxSession(wire, { side: 'client', limits });
  const st = s.open({ ':target': 'x' });
  let written = false;
  st.write(Buffer.alloc(3 * WINDOW), () => (written = true));
  await tick();
  assert.equal(sentData(wire.frames()), WINDOW);
  wire.input(windowFrame(st.id, WINDOW / 2));
  await tick();
  assert.equal(sentData(wire.frames()), WINDOW + WINDOW / 2);
  assert.equal(written, false, 'the write waits for its last byte to be framed');
  wire.input(windowFrame(st.id, 2 * WINDOW));
  await tick();
  assert.equal(sentData(wire.frames()), 3 * WINDOW);
  assert.equal(written, true);
});

test('credit goes back in quarter-window batches as the reader reads, and a used-up window doubles', async () => {
  const { wire, s, stream } = acceptor();
  wire.input(encodeFrame(FrameType.OPEN, 0, 1, encodeHeaders({})));
  // Less than a quarter, read at once: no WINDOW yet.
  wire.input(data(WINDOW / 8));
  await tick();
  stream().read();
  await tick();
  assert.deepEqual(windows(wire.frames()), []);
  // The rest of the window, not read: the peer is out of credit, nothing goes back.
  wire.input(data(WINDOW - WINDOW / 8));
  await tick();
  assert.deepEqual(windows(wire.frames()), []);
  assert.equal(s.bufferedBytes, WINDOW - WINDOW / 8);
  // Read: all of it back, plus the window again (it doubles: the peer ran dry while we kept up).
  stream().read();
  await tick();
  assert.deepEqual(windows(wire.frames()), [WINDOW + WINDOW]);
  assert.equal(s.bufferedBytes, 0);
  // Now 2 × WINDOW of credit: more than that is a violation.
  wire.input(data(2 * WINDOW));
  await tick();
  assert.equal(s.closed, false);
  wire.input(data(1));
  await tick();
  assert.equal(s.error?.code, 'INSEL_MUX_FLOW_CONTROL');
});

test('a window does not grow while the reader lags behind', async () => {
  const { wire, stream } = acceptor();
  wire.input(Buffer.concat([encodeFrame(FrameType.OPEN, 0, 1, encodeHeaders({})), data(WINDOW)]));
  await tick();
  // Take a third: more than a quarter consumed, but two thirds still buffered.
  const third = Math.ceil(WINDOW / 3);
  stream().read(third);
  await tick();
  assert.deepEqual(windows(wire.frames()), [third]);
});

test('an empty write completes at once', async () => {
  const s = new MuxSession(new WireDouble(), { side: 'client', limits });
  const st = s.open({});
  await new Promise<void>((resolve, reject) => st.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
});
