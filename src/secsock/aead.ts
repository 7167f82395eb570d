// Per-epoch sealing and opening of datagrams, in place, by the native addon
// (native/aead.c: one cipher context per epoch key and direction, only the
// nonce set per packet; node:crypto would build a new context per packet).
//   private:   header = AAD, payload encrypted, 16-byte tag
//   integrity: header ‖ payload = AAD, nothing encrypted, 16-byte tag
//              (AES-GMAC / ChaCha20-Poly1305 over empty plaintext, like ESP-NULL)
//   none:      payload as is, no tag (both ends must allow plaintext)
// Nonce = iv XOR (0^4 ‖ counter_be64), as TLS 1.3 §5.3 (computed in C).
import { addon, type AeadContext } from '../native/addon.js';
import type { Aead, Mode } from './algorithms.js';
import { TAG_SIZE } from './constants.js';
import type { EpochKeys } from './keys.js';

export function overhead(mode: Mode): number {
  return mode === 'none' ? 0 : TAG_SIZE;
}

/** One epoch's keys in one direction; `free()` wipes them when the epoch is dropped. */
class EpochCipher {
  protected ctx: AeadContext | undefined;

  constructor(aead: Aead, mode: Mode, readonly keys: EpochKeys, encrypt: boolean) {
    this.ctx = mode === 'none' ? undefined : addon.aeadCreate(aead, keys.key, keys.iv, encrypt, mode === 'integrity');
  }

  /** Drops the cipher context now rather than at the GC's leisure; the object is unusable afterwards. */
  free(): void {
    if (this.ctx !== undefined) addon.aeadFree(this.ctx);
  }
}

export class Sealer extends EpochCipher {
  constructor(aead: Aead, mode: Mode, keys: EpochKeys) {
    super(aead, mode, keys, true);
  }

  /**
   * `out` holds the header in [0, headerLen) and room for prefix + body + tag.
   * Seals prefix[0, prefixLen) ‖ body (inner header and message bytes, kept apart so the
   * caller need not join them) after the header; returns the datagram length.
   */
  seal(out: Buffer, headerLen: number, prefix: Buffer, prefixLen: number, body: Uint8Array, counter: number): number {
    const at = headerLen + prefix.copy(out, headerLen, 0, prefixLen);
    out.set(body, at);
    const end = at + body.length;
    return this.ctx === undefined ? end : addon.aeadSeal(this.ctx, out, headerLen, end, counter);
  }
}

export class Opener extends EpochCipher {
  constructor(aead: Aead, mode: Mode, keys: EpochKeys) {
    super(aead, mode, keys, false);
  }

  /** The authentic payload (decrypted in place), or undefined if the datagram is forged or damaged. */
  open(datagram: Buffer, headerLen: number, counter: number): Buffer | undefined {
    if (this.ctx === undefined) return datagram.subarray(headerLen);
    const n = addon.aeadOpen(this.ctx, datagram, headerLen, counter);
    return n < 0 ? undefined : datagram.subarray(headerLen, headerLen + n);
  }
}
