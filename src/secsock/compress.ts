// Adaptive compression of whole messages, before fragmentation: a message is
// sent deflated only if that makes it shorter (encrypted or already
// compressed data does not shrink and goes as is) and if it respects the
// inflation bound below. The receiver inflates on zlib's thread pool, never
// on the event loop, and stops at the bound: a "zip bomb" is a DecodeError
// after at most that many bytes of work.
import { constants, deflateRawSync, inflateRaw } from 'node:zlib';
import type { Compression } from './algorithms.js';
import { DecodeError } from './errors.js';

/** Shorter messages are not worth a deflate call. */
const MIN_COMPRESS = 128;
/**
 * A compressed message inflates to at most max(INFLATE_FLOOR, INFLATE_RATIO
 * x its compressed size) bytes (and never beyond the negotiated maxMessage).
 * Ordinary data deflates 2-10x; only runs of one byte go past 32x, and those
 * are sent uncompressed (or are small, under the floor).
 */
export const INFLATE_RATIO = 32;
export const INFLATE_FLOOR = 64 * 1024;

/** The most bytes a compressed message of `compressedLength` may inflate to. */
export function inflateBound(compressedLength: number, maxMessage: number): number {
  return Math.min(maxMessage, Math.max(INFLATE_FLOOR, INFLATE_RATIO * compressedLength));
}

export function compressMessage(msg: Buffer, compression: Compression): { data: Buffer; compressed: boolean } {
  if (compression === 'none' || msg.length < MIN_COMPRESS) return { data: msg, compressed: false };
  const data = deflateRawSync(msg, { level: constants.Z_BEST_SPEED });
  // Beyond the ratio the receiver would refuse it: send it as it is.
  const ok = data.length < msg.length && msg.length <= Math.max(INFLATE_FLOOR, INFLATE_RATIO * data.length);
  return ok ? { data, compressed: true } : { data: msg, compressed: false };
}

/** Inflates on zlib's thread pool, at most inflateBound(data.length, maxMessage) bytes; DecodeError otherwise. */
export function inflateMessage(data: Buffer, maxMessage: number): Promise<Buffer> {
  const bound = inflateBound(data.length, maxMessage);
  return new Promise((resolve, reject) => {
    inflateRaw(data, { maxOutputLength: bound }, (cause, out) => {
      if (cause) reject(new DecodeError(`compressed message of ${data.length} bytes is corrupt or inflates beyond ${bound} bytes (max(${INFLATE_FLOOR}, ${INFLATE_RATIO} x its size), at most maxMessage ${maxMessage})`, { cause }));
      else resolve(out);
    });
  });
}
