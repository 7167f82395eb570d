// Adaptive compression of whole messages, before fragmentation: a message is
// sent deflated only if that makes it shorter (encrypted or already
// compressed data does not shrink and goes as is). Inflation is bounded by
// the negotiated maximum message size, so a "zip bomb" is a DecodeError.
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Compression } from './algorithms.js';
import { DecodeError } from './errors.js';

/** Shorter messages are not worth a deflate call. */
const MIN_COMPRESS = 128;

export function compressMessage(msg: Buffer, compression: Compression): { data: Buffer; compressed: boolean } {
  if (compression === 'none' || msg.length < MIN_COMPRESS) return { data: msg, compressed: false };
  const data = deflateRawSync(msg, { level: constants.Z_BEST_SPEED });
  return data.length < msg.length ? { data, compressed: true } : { data: msg, compressed: false };
}

export function inflateMessage(data: Buffer, maxMessage: number): Buffer {
  try {
    return inflateRawSync(data, { maxOutputLength: maxMessage });
  } catch (cause) {
    throw new DecodeError(`compressed message is corrupt or inflates beyond ${maxMessage} bytes`, { cause });
  }
}
