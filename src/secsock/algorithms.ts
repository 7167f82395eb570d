// What a channel can negotiate, and what it refuses by name. The seed's
// DES, IDEA, Blowfish, RC4 and MD5 are broken; asking for one is an error
// that names the modern choice, never a silent fallback.
import { NegotiationError } from './errors.js';

export const AEADS = ['aes-256-gcm', 'chacha20-poly1305'] as const;
export const HASHES = ['sha256', 'sha384', 'sha512', 'blake2b512'] as const;
export const COMPRESSIONS = ['none', 'deflate'] as const;
/** private: AEAD; integrity: authenticated cleartext (like ESP-NULL/AES-GMAC); none: plaintext. */
export const MODES = ['private', 'integrity', 'none'] as const;

export type Aead = (typeof AEADS)[number];
export type Hash = (typeof HASHES)[number];
export type Compression = (typeof COMPRESSIONS)[number];
export type Mode = (typeof MODES)[number];

export const HASH_SIZE: Record<Hash, number> = { sha256: 32, sha384: 48, sha512: 64, blake2b512: 64 };

const MODERN_CIPHER = 'use aes-256-gcm or chacha20-poly1305';
const MODERN_HASH = 'use sha256, sha384, sha512 or blake2b512';

/** Broken algorithm names (lower case) → what to use instead. */
const BROKEN: Record<string, string> = {
  des: MODERN_CIPHER,
  'des-cbc': MODERN_CIPHER,
  '3des': MODERN_CIPHER,
  'des-ede3': MODERN_CIPHER,
  'des-ede3-cbc': MODERN_CIPHER,
  idea: MODERN_CIPHER,
  'idea-cbc': MODERN_CIPHER,
  rc4: MODERN_CIPHER,
  arcfour: MODERN_CIPHER,
  blowfish: MODERN_CIPHER,
  bf: MODERN_CIPHER,
  'bf-cbc': MODERN_CIPHER,
  md5: MODERN_HASH,
  sha1: MODERN_HASH,
  'sha-1': MODERN_HASH,
};

/** The refusal for a broken algorithm, or undefined if `name` is not known broken. */
export function brokenAlgorithmError(name: string, where: string): NegotiationError | undefined {
  // Own keys only: a peer's 'constructor' or '__proto__' is an unknown name, not a broken one.
  const key = name.toLowerCase();
  if (!Object.hasOwn(BROKEN, key)) return undefined;
  const fix = BROKEN[key]!;
  return new NegotiationError('INSEL_BROKEN_ALGORITHM', `${where}: ${name} is broken and insel does not implement it; ${fix}`, {
    field: where,
  });
}
