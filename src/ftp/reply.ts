// FTP replies (server to client), grouped as RFC 959 section 4.2 says: a
// reply is one line `xyz text`, or `xyz-text`, any lines, and `xyz text`.
//
// Passive replies (227 PASV, 228 LPSV, 229 EPSV) are withheld whole so the
// relay can replace them; every other line passes on at once. Two changes
// keep a client from reading a passive reply the relay did not check:
// an inner line of a multi-line reply that starts with three digits gets a
// leading space (what RFC 959 asks servers to do), and a CR inside a line
// becomes a space (some clients end a line there).
import { eolOf, stripEol } from './line-reader.js';
import { FtpProtocolError } from './errors.js';

/** Reply codes that name a data address: the relay must rewrite or refuse them. */
export const PASSIVE_CODES: ReadonlySet<number> = new Set([227, 228, 229]);

export type ReplyStep =
  /** send `bytes` to the client; `ended` is the code of the reply this line completed */
  | { kind: 'pass'; bytes: Buffer; ended?: number }
  /** part of a passive reply, withheld until its last line */
  | { kind: 'hold' }
  /** a whole passive reply, withheld; `text` joins its lines' text */
  | { kind: 'passive'; code: number; text: string };

export class ReplyReader {
  /** code of the open multi-line reply, as three characters */
  private open: string | undefined;
  private held: string[] | undefined;
  private heldBytes = 0;

  /** `maxHeldBytes` bounds a withheld multi-line passive reply. */
  constructor(private readonly maxHeldBytes: number) {}

  /** Takes one whole line (terminator included). Throws FtpProtocolError('INSEL_FTP_REPLY_TOO_LONG'). */
  feed(line: Buffer): ReplyStep {
    const body = stripEol(line);
    const text = body.toString('latin1');
    if (this.open === undefined) {
      const m = /^(\d{3})(-?)/.exec(text);
      // Not a reply; the client will make of it what it can.
      if (m === null) return { kind: 'pass', bytes: sanitize(line, body) };
      const code = Number(m[1]);
      const rest = text.slice(4);
      if (m[2] === '-') {
        this.open = m[1]!;
        if (!PASSIVE_CODES.has(code)) return { kind: 'pass', bytes: sanitize(line, body) };
        this.held = [];
        this.heldBytes = 0;
        return this.hold(rest);
      }
      if (PASSIVE_CODES.has(code)) return { kind: 'passive', code, text: rest };
      return { kind: 'pass', bytes: sanitize(line, body), ended: code };
    }
    const code = Number(this.open);
    if (text.startsWith(this.open) && (text.length === 3 || text[3] === ' ')) {
      this.open = undefined;
      const held = this.held;
      this.held = undefined;
      if (held === undefined) return { kind: 'pass', bytes: sanitize(line, body), ended: code };
      held.push(text.slice(4));
      return { kind: 'passive', code, text: held.join('\n') };
    }
    if (this.held !== undefined) return this.hold(text);
    if (/^\d{3}/.test(text)) return { kind: 'pass', bytes: sanitize(line, Buffer.concat([Buffer.from(' '), body])) };
    return { kind: 'pass', bytes: sanitize(line, body) };
  }

  private hold(text: string): ReplyStep {
    this.heldBytes += text.length + 1;
    if (this.heldBytes > this.maxHeldBytes) {
      throw new FtpProtocolError('INSEL_FTP_REPLY_TOO_LONG', `multi-line passive reply longer than ${this.maxHeldBytes} bytes`);
    }
    this.held!.push(text);
    return { kind: 'hold' };
  }
}

/** `body` with inner CRs as spaces and `line`'s terminator; `line` itself when nothing changed. */
function sanitize(line: Buffer, body: Buffer): Buffer {
  const same = body.length === stripEol(line).length;
  if (same && !body.includes(0x0d)) return line;
  const out = Buffer.concat([body, eolOf(line)]);
  for (let i = 0; i < body.length; i++) if (out[i] === 0x0d) out[i] = 0x20;
  return out;
}

/**
 * The data port of a passive reply's text (the part after the code). 227:
 * the first h1,h2,h3,h4,p1,p2 anywhere (RFC 1123 4.1.2.6: parens optional),
 * its address ignored. 229: `(<d><d><d>port<d>)` (RFC 2428). 228 (LPSV) is
 * not supported. Throws FtpProtocolError('INSEL_FTP_BAD_PASSIVE_REPLY').
 */
export function parsePassivePort(code: number, text: string): number {
  const bad = (why: string) => new FtpProtocolError('INSEL_FTP_BAD_PASSIVE_REPLY', `${code} reply ${why}`, { field: String(code) });
  let port: number;
  if (code === 227) {
    const m = /(\d{1,3}) *, *(\d{1,3}) *, *(\d{1,3}) *, *(\d{1,3}) *, *(\d{1,3}) *, *(\d{1,3})/.exec(text);
    const n = m?.slice(1).map(Number);
    if (n === undefined || n.some((x) => x > 255)) throw bad('has no h1,h2,h3,h4,p1,p2 address');
    port = n[4]! * 256 + n[5]!;
  } else if (code === 229) {
    const m = /\(([\x21-\x7e])\1\1(\d{1,5})\1\)/.exec(text);
    if (m === null) throw bad('has no (|||port|)');
    port = Number(m[2]);
  } else {
    throw bad('(long passive mode) is not supported');
  }
  if (port < 1 || port > 65535) throw bad(`names port ${port}`);
  return port;
}
