// Splits a byte stream into FTP control lines. FTP lines end in CRLF (RFC
// 959 via Telnet); bare LF is tolerated because real clients and servers
// send it. Lines are returned with their terminator so that everything the
// relay does not rewrite passes through byte-exact. Memory is bounded: a
// line longer than `maxLineBytes` (terminator included) is an error as soon
// as that is certain, not when its end finally arrives.
import { FtpProtocolError } from './errors.js';

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

export class LineReader {
  private buf: Buffer = EMPTY;
  private at = 0;

  constructor(readonly maxLineBytes: number) {}

  /** Appends bytes; keeps at most one partial line plus this chunk. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const rest = this.buf.subarray(this.at);
    this.buf = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    this.at = 0;
  }

  /**
   * The next whole line including its terminator (a view, not a copy), or
   * `undefined` when the buffered bytes hold no whole line. Throws
   * FtpProtocolError('INSEL_FTP_LINE_TOO_LONG') for an over-long line.
   */
  next(): Buffer | undefined {
    const lf = this.buf.indexOf(LF, this.at);
    const len = lf < 0 ? this.buf.length - this.at : lf + 1 - this.at;
    // Without an LF the line will be at least one byte longer than what is here.
    if (len > this.maxLineBytes || (lf < 0 && len >= this.maxLineBytes)) {
      throw new FtpProtocolError('INSEL_FTP_LINE_TOO_LONG', `line longer than ${this.maxLineBytes} bytes`);
    }
    if (lf < 0) return undefined;
    const line = this.buf.subarray(this.at, lf + 1);
    this.at = lf + 1;
    return line;
  }

  /** Bytes of an incomplete line waiting for its terminator. */
  get pending(): number {
    return this.buf.length - this.at;
  }
}

/** The line without its LF and the one CR before it, if any. */
export function stripEol(line: Buffer): Buffer {
  let end = line.length;
  if (end > 0 && line[end - 1] === LF) end--;
  if (end > 0 && line[end - 1] === CR) end--;
  return line.subarray(0, end);
}

/** The terminator `stripEol` removed: '\r\n', '\n' or ''. */
export function eolOf(line: Buffer): Buffer {
  return line.subarray(stripEol(line).length);
}
