// UDP datagram codec (docs/PROTOCOL.md "Datagram"):
//
//   0      1       2                 6                               14
//   +------+-------+-----------------+-------------------------------+----------------------+
//   | type | epoch | channel (u32be) |        counter (u64be)        | sealed inner ‖ tag16 |
//   +------+-------+-----------------+-------------------------------+----------------------+
//   \__________________ additional data of the AEAD _________________/
//
// Inner plaintext (authenticated, and encrypted in `private` mode):
//
//   0      1       2
//   +------+-------+----------------------------------------------------------+
//   | kind | flags | DATA: message bytes                                      |
//   |      |       | FRAGMENT: msg id u32be | index u16be | count u16be | bytes|
//   |      |       | KEEPALIVE, CLOSE: nothing (CLOSE: optional UTF-8 reason) |
//   +------+-------+----------------------------------------------------------+
import { DGRAM_HEADER_SIZE, DGRAM_TYPE_SEALED, FLAG_COMPRESSED, FRAG_HEADER_SIZE, INNER_HEADER_SIZE, InnerKind } from './constants.js';
import { DecodeError } from './errors.js';

export interface DatagramHeader {
  type: number;
  epoch: number;
  channelId: number;
  counter: number;
}

export interface Inner {
  kind: number;
  flags: number;
  msgId: number;
  index: number;
  count: number;
  body: Buffer;
}

const TWO_32 = 2 ** 32;
/** 2^53 / 2^32: the high word above which a counter is no longer exact. */
const MAX_COUNTER_HI = 2 ** 21;

export function writeHeader(out: Buffer, epoch: number, channelId: number, counter: number): void {
  out[0] = DGRAM_TYPE_SEALED;
  out[1] = epoch;
  out.writeUInt32BE(channelId, 2);
  out.writeUInt32BE(Math.floor(counter / TWO_32), 6);
  out.writeUInt32BE(counter >>> 0, 10);
}

/** Fills `out` from the datagram; throws DecodeError for a malformed header. */
export function decodeHeader(buf: Buffer, out: DatagramHeader): DatagramHeader {
  if (buf.length < DGRAM_HEADER_SIZE) throw new DecodeError(`datagram of ${buf.length} bytes is shorter than its header`);
  if (buf[0] !== DGRAM_TYPE_SEALED) throw new DecodeError(`unknown datagram type ${buf[0]}`);
  const hi = buf.readUInt32BE(6);
  if (hi >= MAX_COUNTER_HI) throw new DecodeError('datagram counter beyond 2^53');
  out.type = buf[0];
  out.epoch = buf[1]!;
  out.channelId = buf.readUInt32BE(2);
  out.counter = hi * TWO_32 + buf.readUInt32BE(10);
  return out;
}

export function writeInner(out: Buffer, at: number, kind: number, flags: number): number {
  out[at] = kind;
  out[at + 1] = flags;
  return at + INNER_HEADER_SIZE;
}

export function writeFragmentHeader(out: Buffer, at: number, msgId: number, index: number, count: number): number {
  out.writeUInt32BE(msgId, at);
  out.writeUInt16BE(index, at + 4);
  out.writeUInt16BE(count, at + 6);
  return at + FRAG_HEADER_SIZE;
}

export function decodeInner(plain: Buffer): Inner {
  if (plain.length < INNER_HEADER_SIZE) throw new DecodeError('inner payload shorter than its header');
  const kind = plain[0]!;
  const flags = plain[1]!;
  if ((flags & ~FLAG_COMPRESSED) !== 0) throw new DecodeError(`unknown inner flags 0x${flags.toString(16)}`);
  switch (kind) {
    case InnerKind.DATA:
    case InnerKind.KEEPALIVE:
    case InnerKind.CLOSE:
      return { kind, flags, msgId: 0, index: 0, count: 1, body: plain.subarray(INNER_HEADER_SIZE) };
    case InnerKind.FRAGMENT: {
      if (plain.length < INNER_HEADER_SIZE + FRAG_HEADER_SIZE) throw new DecodeError('fragment shorter than its header');
      const msgId = plain.readUInt32BE(INNER_HEADER_SIZE);
      const index = plain.readUInt16BE(INNER_HEADER_SIZE + 4);
      const count = plain.readUInt16BE(INNER_HEADER_SIZE + 6);
      if (count < 2 || index >= count) throw new DecodeError(`fragment ${index} of ${count} is impossible`);
      return { kind, flags, msgId, index, count, body: plain.subarray(INNER_HEADER_SIZE + FRAG_HEADER_SIZE) };
    }
    default:
      throw new DecodeError(`unknown inner kind ${kind}`);
  }
}
