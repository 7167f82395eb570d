// TCP frame codec (docs/PROTOCOL.md "Frame"):
//
//   0      1      2                     6
//   +------+------+---------------------+------------------+
//   | type | flags|  length (u32, BE)   | payload (length) |
//   +------+------+---------------------+------------------+
//
// The decoder takes stream chunks in any split and yields whole frames; it
// copies only when a frame straddles chunks. It returns nothing for "need
// more bytes" and throws DecodeError only for bytes that can never be valid.
import { FRAME_FLAGS_KNOWN, FRAME_HEADER_SIZE, FrameType } from './constants.js';
import { DecodeError } from './errors.js';

export interface Frame {
  type: number;
  flags: number;
  payload: Buffer;
}

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

export function writeFrameHeader(out: Buffer, offset: number, type: number, flags: number, length: number): void {
  out[offset] = type;
  out[offset + 1] = flags;
  out.writeUInt32BE(length, offset + 2);
}

export function encodeFrame(type: number, flags: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  writeFrameHeader(out, 0, type, flags, payload.length);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** `types`: the frame types this protocol knows (SecSockets' by default); any other is a DecodeError. */
  constructor(
    private maxPayload: number,
    private readonly types: ReadonlySet<number> = KNOWN_TYPES,
  ) {}

  /** Changes the frame size limit, e.g. from the handshake's to the negotiated one. */
  withLimit(maxPayload: number): this {
    this.maxPayload = maxPayload;
    return this;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole frame, or undefined until more bytes arrive. */
  next(): Frame | undefined {
    if (this.buffered < FRAME_HEADER_SIZE) return undefined;
    const head = this.peek(FRAME_HEADER_SIZE);
    const type = head[0]!;
    const flags = head[1]!;
    const length = head.readUInt32BE(2);
    if (!this.types.has(type)) throw new DecodeError(`unknown frame type ${type}`);
    if ((flags & ~FRAME_FLAGS_KNOWN) !== 0) throw new DecodeError(`unknown frame flags 0x${flags.toString(16)}`);
    if (length > this.maxPayload) throw new DecodeError(`frame of ${length} bytes exceeds the limit of ${this.maxPayload}`);
    if (this.buffered < FRAME_HEADER_SIZE + length) return undefined;
    this.consume(FRAME_HEADER_SIZE);
    const payload = this.take(length);
    return { type, flags, payload };
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    return Buffer.concat(this.chunks, Math.min(this.buffered, Math.max(n, 64))).subarray(0, n);
  }

  private consume(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (first.length > n) {
        this.chunks[0] = first.subarray(n);
        return;
      }
      n -= first.length;
      this.chunks.shift();
    }
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length >= n) {
      const out = first.subarray(0, n);
      this.consume(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      this.consume(k);
    }
    return out;
  }
}
