// Frames of insel-org/1 and insel-enroll/1:
//
//   0       4                      4+len
//   +-------+----------------------+
//   |  len  |  UTF-8 JSON object   |   len: u32 big-endian, 1..MAX_FRAME
//   +-------+----------------------+
//
// The decoder is fed whatever the socket delivers and yields whole
// payloads; it holds at most one frame's bytes (header + MAX_FRAME), and a
// bad length is refused from the header alone, before its payload arrives.
import { FRAME_HEADER, MAX_FRAME } from './constants.js';
import { WireError } from './errors.js';

/** The frame of one message object. */
export function encodeFrame(message: object): Buffer {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  if (json.length > MAX_FRAME) throw new WireError('INSEL_WIRE_FRAME', `message of ${json.length} bytes is over the ${MAX_FRAME}-byte frame limit`);
  const out = Buffer.allocUnsafe(FRAME_HEADER + json.length);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, FRAME_HEADER);
  return out;
}

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** the current frame's payload length, once its header is in */
  private need = -1;

  /** Bytes from the peer; returns the payloads they complete. Throws WireError INSEL_WIRE_FRAME on a bad length. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < FRAME_HEADER) return out;
        const len = this.take(FRAME_HEADER).readUInt32BE(0);
        if (len === 0 || len > MAX_FRAME) {
          this.chunks = [];
          this.buffered = 0;
          throw new WireError('INSEL_WIRE_FRAME', `frame length ${len} is outside 1..${MAX_FRAME}`);
        }
        this.need = len;
      }
      if (this.buffered < this.need) return out;
      out.push(this.take(this.need));
      this.need = -1;
    }
  }

  /** Bytes held now (for tests of the bound). */
  get held(): number {
    return this.buffered;
  }

  /** The first n buffered bytes (n <= buffered), as one Buffer. */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The JSON object in a payload; WireError INSEL_WIRE_JSON if it is not UTF-8 JSON holding an object. */
export function parseObject(payload: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(payload));
  } catch (err) {
    throw new WireError('INSEL_WIRE_JSON', `not UTF-8 JSON: ${(err as Error).message.slice(0, 120)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new WireError('INSEL_WIRE_JSON', 'the frame holds JSON but not an object');
  return value as Record<string, unknown>;
}
