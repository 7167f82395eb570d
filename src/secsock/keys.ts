// Key schedule of the UDP data channel (docs/PROTOCOL.md "Key schedule").
//
//   ikm     = TLS-Exporter(EXPORTER_LABEL, nonce_c ‖ nonce_s ‖ channel_id, Hlen)   (RFC 5705 / 8446 §7.5)
//   salt    = H( H(nonce_c) XOR H(nonce_s) )                                       (seed 000 §4.1, step 4)
//   chain_0 = HKDF(H, ikm, salt, "insel/v1 c2s" | "insel/v1 s2c", Hlen)           one chain per direction
//   key_n   = HKDF(H, chain_n, "", "insel/v1 key", 32)
//   iv_n    = HKDF(H, chain_n, "", "insel/v1 iv", 12)
//   chain_n+1 = HKDF(H, chain_n, "", "insel/v1 next", Hlen)
//
// The exporter ties keys to the TLS 1.3 (EC)DHE handshake: forward secrecy.
// The ratchet gives each epoch fresh keys; a chain value is dropped once its
// successor exists, so a later compromise does not reveal earlier epochs.
import { createHash, hkdfSync } from 'node:crypto';
import { HASH_SIZE, type Hash } from './algorithms.js';
import { KEY_SIZE, NONCE_SIZE } from './constants.js';

export interface EpochKeys {
  /** 0..255 on the wire; the sequence number modulo 256. */
  epoch: number;
  key: Buffer;
  iv: Buffer;
}

const hkdf = (hash: Hash, ikm: Buffer, salt: Buffer | string, info: string, len: number) =>
  Buffer.from(hkdfSync(hash, ikm, salt, info, len));

export function exporterContext(nonceC: Buffer, nonceS: Buffer, channelId: number): Buffer {
  const ctx = Buffer.allocUnsafe(nonceC.length + nonceS.length + 4);
  nonceC.copy(ctx, 0);
  nonceS.copy(ctx, nonceC.length);
  ctx.writeUInt32BE(channelId, nonceC.length + nonceS.length);
  return ctx;
}

export function nonceSalt(hash: Hash, nonceC: Buffer, nonceS: Buffer): Buffer {
  const hc = createHash(hash).update(nonceC).digest();
  const hs = createHash(hash).update(nonceS).digest();
  for (let i = 0; i < hc.length; i++) hc[i]! ^= hs[i]!;
  return createHash(hash).update(hc).digest();
}

export function initialChains(hash: Hash, exported: Buffer, nonceC: Buffer, nonceS: Buffer): { c2s: Buffer; s2c: Buffer } {
  const salt = nonceSalt(hash, nonceC, nonceS);
  return {
    c2s: hkdf(hash, exported, salt, 'insel/v1 c2s', HASH_SIZE[hash]),
    s2c: hkdf(hash, exported, salt, 'insel/v1 s2c', HASH_SIZE[hash]),
  };
}

/** One direction's ratchet. */
export class KeyChain {
  private chain: Buffer;
  private seq = 0;

  constructor(
    private readonly hash: Hash,
    chain0: Buffer,
  ) {
    this.chain = chain0;
  }

  /** Keys of the current epoch, then moves the chain one step on. */
  next(): EpochKeys {
    const keys: EpochKeys = {
      epoch: this.seq & 0xff,
      key: hkdf(this.hash, this.chain, '', 'insel/v1 key', KEY_SIZE),
      iv: hkdf(this.hash, this.chain, '', 'insel/v1 iv', NONCE_SIZE),
    };
    const next = hkdf(this.hash, this.chain, '', 'insel/v1 next', HASH_SIZE[this.hash]);
    this.chain.fill(0);
    this.chain = next;
    this.seq++;
    return keys;
  }
}
