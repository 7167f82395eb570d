// Header blocks of OPEN and REPLY (docs/PROTOCOL.md §5.1 "Header block"):
//
//   u16 count (≤ 64), then per entry:
//   u8 name length (1..64) | name (lowercase token, may start with ':') |
//   u16 value length | value (UTF-8)
//
// The whole block is at most 16 KiB. Names are unique. Decoded headers live
// in a null-prototype object, so a peer's "__proto__" is just a name.
import { MAX_HEADER_BLOCK, MAX_HEADER_NAME, MAX_HEADERS } from './constants.js';
import { MuxError, protocolError } from './errors.js';

export type MuxHeaders = Record<string, string>;

// HTTP token characters without upper case; ':' only as the first byte.
const NAME = /^:?[a-z0-9!#$%&'*+\-.^_`|~]{1,64}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The block's bytes; MuxError BAD_HEADERS if they cannot go on the wire. */
export function encodeHeaders(headers: MuxHeaders): Buffer {
  const entries = Object.entries(headers);
  const bad = (why: string) => new MuxError('INSEL_MUX_BAD_HEADERS', `header block: ${why}`);
  if (entries.length > MAX_HEADERS) throw bad(`${entries.length} headers, at most ${MAX_HEADERS}`);
  const parts: Buffer[] = [];
  let size = 2;
  for (const [name, value] of entries) {
    if (!NAME.test(name) || name.length > MAX_HEADER_NAME) throw bad(`name ${JSON.stringify(name.slice(0, 80))} is not a lowercase token of 1..${MAX_HEADER_NAME} bytes`);
    const v = Buffer.from(String(value), 'utf8');
    size += 1 + name.length + 2 + v.length;
    if (size > MAX_HEADER_BLOCK) throw bad(`more than ${MAX_HEADER_BLOCK} bytes`);
    const head = Buffer.allocUnsafe(1 + name.length + 2);
    head[0] = name.length;
    head.write(name, 1, 'latin1');
    head.writeUInt16BE(v.length, 1 + name.length);
    parts.push(head, v);
  }
  const count = Buffer.allocUnsafe(2);
  count.writeUInt16BE(entries.length, 0);
  return Buffer.concat([count, ...parts], size);
}

/** The headers of a block from the peer; MuxError PROTOCOL if malformed. */
export function decodeHeaders(b: Buffer): MuxHeaders {
  if (b.length > MAX_HEADER_BLOCK) throw protocolError(`header block of ${b.length} bytes, at most ${MAX_HEADER_BLOCK}`);
  if (b.length < 2) throw protocolError('header block shorter than its count');
  const count = b.readUInt16BE(0);
  if (count > MAX_HEADERS) throw protocolError(`header block of ${count} headers, at most ${MAX_HEADERS}`);
  const out: MuxHeaders = Object.create(null) as MuxHeaders;
  let at = 2;
  for (let i = 0; i < count; i++) {
    if (at + 1 > b.length) throw protocolError('header block truncated in a name length');
    const nameLen = b[at]!;
    if (at + 1 + nameLen + 2 > b.length) throw protocolError('header block truncated in a name');
    const name = b.toString('latin1', at + 1, at + 1 + nameLen);
    if (!NAME.test(name)) throw protocolError(`header name ${JSON.stringify(name)} is not a lowercase token of 1..${MAX_HEADER_NAME} bytes`);
    if (name in out) throw protocolError(`header ${name} appears twice`);
    at += 1 + nameLen;
    const valueLen = b.readUInt16BE(at);
    at += 2;
    if (at + valueLen > b.length) throw protocolError(`header ${name} truncated in its value`);
    try {
      out[name] = utf8.decode(b.subarray(at, at + valueLen));
    } catch {
      throw protocolError(`header ${name} is not UTF-8`);
    }
    at += valueLen;
  }
  if (at !== b.length) throw protocolError(`header block has ${b.length - at} bytes after its last header`);
  return out;
}
