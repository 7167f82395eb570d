// Per-epoch sealing and opening of datagrams with node:crypto AEADs.
//   private:   header = AAD, payload encrypted, 16-byte tag
//   integrity: header ‖ payload = AAD, nothing encrypted, 16-byte tag
//              (AES-GMAC / ChaCha20-Poly1305 over empty plaintext, like ESP-NULL)
//   none:      payload as is, no tag (both ends must allow plaintext)
// Nonce = iv XOR (0^4 ‖ counter_be64), as TLS 1.3 §5.3; one buffer per
// direction, rewritten in place per packet.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Aead, Mode } from './algorithms.js';
import { NONCE_SIZE, TAG_SIZE } from './constants.js';
import type { EpochKeys } from './keys.js';

const TWO_32 = 2 ** 32;

function makeNonce(out: Buffer, iv: Buffer, counter: number): Buffer {
  iv.copy(out, 0, 0, NONCE_SIZE);
  const hi = Math.floor(counter / TWO_32);
  const lo = counter >>> 0;
  out.writeUInt32BE((out.readUInt32BE(4) ^ hi) >>> 0, 4);
  out.writeUInt32BE((out.readUInt32BE(8) ^ lo) >>> 0, 8);
  return out;
}

// Two calls so each narrows `aead` to the overload that knows its tag option.
function cipher(aead: Aead, key: Buffer, nonce: Buffer) {
  return aead === 'aes-256-gcm'
    ? createCipheriv(aead, key, nonce, { authTagLength: TAG_SIZE })
    : createCipheriv(aead, key, nonce, { authTagLength: TAG_SIZE });
}

function decipher(aead: Aead, key: Buffer, nonce: Buffer) {
  return aead === 'aes-256-gcm'
    ? createDecipheriv(aead, key, nonce, { authTagLength: TAG_SIZE })
    : createDecipheriv(aead, key, nonce, { authTagLength: TAG_SIZE });
}

export function overhead(mode: Mode): number {
  return mode === 'none' ? 0 : TAG_SIZE;
}

export class Sealer {
  private readonly nonce = Buffer.alloc(NONCE_SIZE);

  constructor(
    private readonly aead: Aead,
    private readonly mode: Mode,
    readonly keys: EpochKeys,
  ) {}

  /**
   * `out` holds the header in [0, headerLen) and room for prefix + body + tag.
   * Seals prefix[0, prefixLen) ‖ body (inner header and message bytes, kept apart so the
   * caller need not join them) after the header; returns the datagram length.
   */
  seal(out: Buffer, headerLen: number, prefix: Buffer, prefixLen: number, body: Uint8Array, counter: number): number {
    // Plaintext in place first: one update() over it (node:crypto cannot
    // encrypt into a given buffer, so its output is copied back once).
    let at = headerLen + prefix.copy(out, headerLen, 0, prefixLen);
    out.set(body, at);
    at += body.length;
    if (this.mode === 'none') return at;
    const c = cipher(this.aead, this.keys.key, makeNonce(this.nonce, this.keys.iv, counter));
    if (this.mode === 'private') {
      c.setAAD(out.subarray(0, headerLen));
      c.update(out.subarray(headerLen, at)).copy(out, headerLen);
    } else {
      c.setAAD(out.subarray(0, at));
    }
    c.final();
    at += c.getAuthTag().copy(out, at);
    return at;
  }
}

export class Opener {
  private readonly nonce = Buffer.alloc(NONCE_SIZE);

  constructor(
    private readonly aead: Aead,
    private readonly mode: Mode,
    readonly keys: EpochKeys,
  ) {}

  /** The authentic payload, or undefined if the datagram is forged or damaged. */
  open(datagram: Buffer, headerLen: number, counter: number): Buffer | undefined {
    if (this.mode === 'none') return datagram.subarray(headerLen);
    if (datagram.length < headerLen + TAG_SIZE) return undefined;
    const end = datagram.length - TAG_SIZE;
    const d = decipher(this.aead, this.keys.key, makeNonce(this.nonce, this.keys.iv, counter));
    d.setAuthTag(datagram.subarray(end));
    try {
      if (this.mode === 'private') {
        d.setAAD(datagram.subarray(0, headerLen));
        const plain = d.update(datagram.subarray(headerLen, end));
        d.final();
        return plain;
      }
      d.setAAD(datagram.subarray(0, end));
      d.final();
      return datagram.subarray(headerLen, end);
    } catch {
      return undefined;
    }
  }
}
