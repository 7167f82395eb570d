// Frame codec (docs/PROTOCOL.md §5.1 "Frame"):
//
//   0      1      2                  6                    10
//   +------+------+------------------+--------------------+-----------------+
//   | type | flags| stream id u32be  | payload length u32 | payload         |
//   +------+------+------------------+--------------------+-----------------+
//
// The decoder is pushed socket chunks in any split. It never joins chunks:
// a DATA payload reaches the sink as pieces (subarrays of the chunks it came
// in), and only a header or a small control payload that straddles chunks is
// copied. It checks what a frame can be on its own (type, flags, sizes,
// stream 0); what depends on session state (stream ids, windows) is the
// sink's. Malformed input throws MuxError; the decoder is then spent.
import {
  CODE_SIZE,
  FLAGS_ALLOWED,
  FRAME_HEADER_SIZE,
  FrameType,
  MAX_DATA_PAYLOAD,
  MAX_HEADER_BLOCK,
  MAX_REASON,
  PING_PAYLOAD,
  WINDOW_PAYLOAD,
} from './constants.js';
import { protocolError } from './errors.js';

export interface FrameSink {
  /** A DATA frame begins; `length` bytes follow through dataPiece, then dataEnd. */
  dataStart(id: number, flags: number, length: number): void;
  dataPiece(piece: Buffer): void;
  dataEnd(): void;
  /** Any other frame, whole. */
  control(type: number, flags: number, id: number, payload: Buffer): void;
}

const HEADER_STATE = -1;

export class FrameDecoder {
  private readonly head = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  private headFill = 0;
  /** payload bytes still to come of the current frame, or HEADER_STATE */
  private remaining = HEADER_STATE;
  private type = 0;
  private flags = 0;
  private id = 0;
  /** a control payload being gathered across chunks */
  private gather: Buffer | undefined;
  private gatherFill = 0;
  private stopped = false;

  constructor(private readonly sink: FrameSink) {}

  /** Ignores all further input (the session ended, maybe inside a push). */
  stop(): void {
    this.stopped = true;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    let at = 0;
    while (at < n && !this.stopped) {
      if (this.remaining === HEADER_STATE) {
        if (this.headFill === 0 && n - at >= FRAME_HEADER_SIZE) {
          this.header(chunk, at);
          at += FRAME_HEADER_SIZE;
        } else {
          const k = Math.min(FRAME_HEADER_SIZE - this.headFill, n - at);
          chunk.copy(this.head, this.headFill, at, at + k);
          this.headFill += k;
          at += k;
          if (this.headFill < FRAME_HEADER_SIZE) return;
          this.headFill = 0;
          this.header(this.head, 0);
        }
        continue;
      }
      const k = Math.min(this.remaining, n - at);
      if (this.type === FrameType.DATA) {
        this.sink.dataPiece(chunk.subarray(at, at + k));
        this.remaining -= k;
        at += k;
        if (this.remaining === 0) this.endData();
      } else if (this.gather === undefined && k === this.remaining) {
        this.remaining = HEADER_STATE;
        this.sink.control(this.type, this.flags, this.id, chunk.subarray(at, at + k));
        at += k;
      } else {
        this.gather ??= Buffer.allocUnsafe(this.remaining);
        chunk.copy(this.gather, this.gatherFill, at, at + k);
        this.gatherFill += k;
        this.remaining -= k;
        at += k;
        if (this.remaining === 0) {
          const payload = this.gather;
          this.gather = undefined;
          this.gatherFill = 0;
          this.remaining = HEADER_STATE;
          this.sink.control(this.type, this.flags, this.id, payload);
        }
      }
    }
  }

  private header(b: Buffer, at: number): void {
    const type = b[at]!;
    const flags = b[at + 1]!;
    const id = b.readUInt32BE(at + 2);
    const length = b.readUInt32BE(at + 6);
    checkHeader(type, flags, id, length);
    this.type = type;
    this.flags = flags;
    this.id = id;
    if (type === FrameType.DATA) {
      this.remaining = length;
      this.sink.dataStart(id, flags, length);
      if (length === 0) this.endData();
    } else {
      this.remaining = length;
    }
  }

  private endData(): void {
    this.remaining = HEADER_STATE;
    this.sink.dataEnd();
  }
}

/** What a frame header may say regardless of session state; throws MuxError PROTOCOL. */
function checkHeader(type: number, flags: number, id: number, length: number): void {
  if (type > FrameType.GOAWAY) throw protocolError(`unknown frame type ${type}`);
  if ((flags & ~FLAGS_ALLOWED[type]!) !== 0) throw protocolError(`frame type ${type} with unknown flags 0x${flags.toString(16)}`);
  const session = type === FrameType.PING || type === FrameType.GOAWAY;
  if (session !== (id === 0)) throw protocolError(session ? `frame type ${type} on stream ${id}, not on stream 0` : `frame type ${type} on stream 0`);
  const [min, max] = PAYLOAD_RANGE[type]!;
  if (length < min || length > max) throw protocolError(`frame type ${type} with a payload of ${length} bytes, allowed ${min}..${max}`);
}

/** Allowed payload lengths, indexed by type. */
const PAYLOAD_RANGE: readonly (readonly [number, number])[] = [
  [0, MAX_DATA_PAYLOAD],
  [2, MAX_HEADER_BLOCK],
  [2, MAX_HEADER_BLOCK],
  [WINDOW_PAYLOAD, WINDOW_PAYLOAD],
  [CODE_SIZE, CODE_SIZE + MAX_REASON],
  [PING_PAYLOAD, PING_PAYLOAD],
  [CODE_SIZE, CODE_SIZE + MAX_REASON],
];

export function writeHeader(out: Buffer, type: number, flags: number, id: number, length: number): void {
  out[0] = type;
  out[1] = flags;
  out.writeUInt32BE(id, 2);
  out.writeUInt32BE(length, 6);
}

/** A DATA header alone: its payload is written right after it, uncopied. */
export function dataHeader(flags: number, id: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  writeHeader(out, FrameType.DATA, flags, id, length);
  return out;
}

/** A whole frame in one buffer (control frames, and small DATA). */
export function encodeFrame(type: number, flags: number, id: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  writeHeader(out, type, flags, id, payload.length);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

export function windowFrame(id: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + WINDOW_PAYLOAD);
  writeHeader(out, FrameType.WINDOW, 0, id, WINDOW_PAYLOAD);
  out.writeUInt32BE(increment, FRAME_HEADER_SIZE);
  return out;
}

/** RESET (on a stream) or GOAWAY (id 0): code, then the reason cut to MAX_REASON bytes on a character boundary. */
export function codeFrame(type: typeof FrameType.RESET | typeof FrameType.GOAWAY, id: number, code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  let len = Math.min(text.length, MAX_REASON);
  while (len < text.length && len > 0 && (text[len]! & 0xc0) === 0x80) len--;
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + CODE_SIZE + len);
  writeHeader(out, type, 0, id, CODE_SIZE + len);
  out.writeUInt32BE(code >>> 0, FRAME_HEADER_SIZE);
  text.copy(out, FRAME_HEADER_SIZE + CODE_SIZE, 0, len);
  return out;
}

/** RESET/GOAWAY payload → code and reason (invalid UTF-8 shows as U+FFFD: a reason is only ever shown). */
export function decodeCode(payload: Buffer): { code: number; reason: string } {
  return { code: payload.readUInt32BE(0), reason: payload.toString('utf8', CODE_SIZE) };
}
