// The session against hostile input: plausible frames (right types, small
// ids of both parities, valid and broken header blocks, DATA around the
// window, WINDOW, RESET, PING, GOAWAY) mixed with random bytes, in random
// chunks, while its streams are accepted, read, reset or ignored. Only ever
// a running session or one closed with a reason; our output always decodes;
// a protocol error is a MuxError with the GOAWAY that names it; nothing
// escapes as an exception, nothing waits forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import fc from 'fast-check';
import { FLAGS_ALLOWED, FrameType } from './constants.js';
import { MuxError } from './errors.js';
import { dataHeader, decodeCode, encodeFrame } from './frame.js';
import { encodeHeaders } from './headers.js';
import { MuxSession } from './session.js';
import type { MuxStream } from './stream.js';
import { splitAt, WireDouble } from './testing.js';

const RUNS = 400;
const WINDOW = 300;

const idArb = fc.integer({ min: 0, max: 12 });
const payloadFor: Record<number, fc.Arbitrary<Uint8Array>> = {
  [FrameType.DATA]: fc.integer({ min: 0, max: WINDOW + 20 }).map((n) => new Uint8Array(n)),
  [FrameType.OPEN]: fc.oneof({ weight: 4, arbitrary: fc.constant(encodeHeaders({ ':target': 'x' })) }, fc.constant(encodeHeaders({})), fc.uint8Array({ minLength: 2, maxLength: 20 })),
  [FrameType.REPLY]: fc.oneof(fc.constant(encodeHeaders({ ':status': 'ok' })), fc.uint8Array({ minLength: 2, maxLength: 20 })),
  [FrameType.WINDOW]: fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((n) => Buffer.from([n >>> 24, n >>> 16, n >>> 8, n].map((b) => b & 0xff))),
  [FrameType.RESET]: fc.tuple(fc.integer({ min: 0, max: 6 }), fc.string({ maxLength: 20 })).map(([c, r]) => Buffer.concat([Buffer.from([0, 0, 0, c]), Buffer.from(r)])),
  [FrameType.PING]: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  [FrameType.GOAWAY]: fc.tuple(fc.integer({ min: 0, max: 6 }), fc.string({ maxLength: 20 })).map(([c, r]) => Buffer.concat([Buffer.from([0, 0, 0, c]), Buffer.from(r)])),
};
const frameArb = fc
  .tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 3 }), idArb)
  .chain(([type, flags, id]) => payloadFor[type]!.map((p) => (type === FrameType.DATA ? Buffer.concat([dataHeader(flags & 1, id, p.length), p]) : encodeFrame(type, flags, id, p))));
/**
 * Mostly a well-behaved peer: OPENs with its own parity and rising ids, other
 * frames on ids that exist; now and then an id out of nowhere, and random
 * bytes between frames.
 */
const opArb = fc.record({ frame: frameArb, pick: fc.nat(), wild: fc.integer({ min: 0, max: 9 }).map((n) => n === 0) });
const junkArb = fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b));
const scriptArb = fc.array(fc.oneof({ weight: 12, arbitrary: opArb }, { weight: 1, arbitrary: junkArb }), { maxLength: 24 });

function build(script: (Buffer | { frame: Buffer; pick: number; wild: boolean })[], side: 'client' | 'server'): Buffer {
  const peerParity = side === 'client' ? 0 : 1;
  const known = side === 'client' ? [1, 3] : [2, 4];
  let next = peerParity === 1 ? 1 : 2;
  const out: Buffer[] = [];
  for (const op of script) {
    if (Buffer.isBuffer(op)) {
      out.push(op);
      continue;
    }
    const f = Buffer.from(op.frame);
    const type = f[0]!;
    if (op.wild) {
      out.push(f);
      continue;
    }
    f[1] = f[1]! & FLAGS_ALLOWED[type]!;
    if (type === FrameType.PING || type === FrameType.GOAWAY) f.writeUInt32BE(0, 2);
    else {
      if (type === FrameType.OPEN) {
        f.writeUInt32BE(next, 2);
        known.push(next);
        next += 2 * (1 + (op.pick % 2));
      } else f.writeUInt32BE(known[op.pick % known.length]!, 2);
    }
    out.push(f);
  }
  return Buffer.concat(out);
}
const behaviour = fc.constantFrom('accept-read', 'accept-ignore', 'refuse', 'later');

test('fuzz: hostile frames end the session with a reason, never with an exception or a hang', async () => {
  await fc.assert(
    fc.asyncProperty(scriptArb, fc.array(fc.nat(), { maxLength: 6 }), behaviour, fc.constantFrom<'client' | 'server'>('client', 'server'), async (script, cuts, how, side) => {
      const wire = new WireDouble();
      const s = new MuxSession(wire, { side, limits: { initialWindow: WINDOW, maxWindow: 4 * WINDOW, maxStreams: 4 } });
      let closeReason: string | undefined;
      let closeErr: MuxError | undefined;
      s.on('close', (reason: string, err?: MuxError) => {
        closeReason = reason;
        closeErr = err;
      });
      s.on('stream', (st: MuxStream) => {
        st.on('error', () => undefined);
        if (how === 'refuse') return st.reset(2, 'no');
        if (how === 'later') return void setImmediate(() => st.respond({}));
        st.respond({});
        if (how === 'accept-read') st.resume();
      });
      // Streams of our own, so frames for our ids can hit something.
      for (let i = 0; i < 2; i++) s.open({ ':n': String(i) }).on('error', () => undefined);
      for (const chunk of splitAt(build(script, side), cuts)) {
        wire.input(Buffer.from(chunk));
        await tick();
      }
      await tick();
      const out = wire.frames(); // throws if we wrote anything malformed
      if (!s.closed) return;
      assert.ok(closeReason !== undefined && closeReason.length > 0);
      if (closeErr === undefined) return;
      assert.ok(closeErr instanceof MuxError);
      const last = out.at(-1)!;
      assert.equal(last.type, FrameType.GOAWAY);
      assert.equal(decodeCode(last.payload).code, closeErr.muxCode);
      assert.equal(s.streamCount, 0);
    }),
    { numRuns: RUNS },
  );
});
