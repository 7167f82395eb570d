// Enrollment codes: what an administrator hands a new site or user, once.
//
//   insel-<id: 16>-<secret: 32>-<pin: 12>
//
// each part lowercase RFC 4648 base32 (a-z, 2-7) without padding:
//   id      80 random bits: the registry's key for the code
//   secret 160 random bits: the registry stores only SHA-256 over these 20 bytes
//   pin     the first 60 bits of SHA-256 over the DER of the org root CA
//           certificate the enrolling server chains to: the client sends the
//           code only to a server that proves a chain to that root (pinMatches)
// Whitespace around the code is ignored, and so is case: people copy codes
// out of chat windows and read them over the phone.
import { createHash, randomBytes } from 'node:crypto';
import { isSignedBy } from '../../pki/signature.js';
import { parseCert } from '../../pki/chain.js';
import { EnrollError } from './errors.js';

export const CODE_PREFIX = 'insel-';
const ID_CHARS = 16;
const SECRET_CHARS = 32;
const PIN_CHARS = 12;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
/** a code is 6 + 16 + 1 + 32 + 1 + 12 = 68 characters; more than this (after trimming) is not worth parsing */
const MAX_TEXT = 256;

export interface NewCode {
  /** what the administrator hands over */
  text: string;
  id: string;
  /** SHA-256 of the secret: what the registry stores */
  secretHash: Buffer;
  pin: string;
}

export interface ParsedCode {
  id: string;
  /** the secret part as typed (lowercase base32) */
  secret: string;
  secretHash: Buffer;
  pin: string;
}

/** Lowercase base32 of the first `chars` * 5 bits of `bytes`. */
function base32(bytes: Uint8Array, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) {
    let v = 0;
    for (let b = i * 5; b < i * 5 + 5; b++) v = (v << 1) | (((bytes[b >> 3] ?? 0) >> (7 - (b & 7))) & 1);
    out += ALPHABET[v];
  }
  return out;
}

/** The bytes of `text` (length a multiple of 8, so whole bytes, no padding); `text` is known to be [a-z2-7]*. */
function unbase32(text: string): Buffer {
  const out = Buffer.alloc((text.length * 5) / 8);
  for (let i = 0; i < text.length; i++) {
    const v = ALPHABET.indexOf(text[i] as string);
    for (let k = 0; k < 5; k++) {
      const b = i * 5 + k;
      if ((v >> (4 - k)) & 1) out[b >> 3] = (out[b >> 3] as number) | (0x80 >> (b & 7));
    }
  }
  return out;
}

function hashSecret(secret: Buffer): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** The pin of a root CA certificate (DER): 60 bits of its SHA-256, as 12 base32 characters. */
export function pinOf(rootDer: Uint8Array): string {
  return base32(createHash('sha256').update(rootDer).digest(), PIN_CHARS);
}

/** A fresh code pinning the root CA `rootDer`. */
export function newCode(rootDer: Uint8Array): NewCode {
  const id = base32(randomBytes(10), ID_CHARS);
  const secretBytes = randomBytes(20);
  const pin = pinOf(rootDer);
  return { text: `${CODE_PREFIX}${id}-${base32(secretBytes, SECRET_CHARS)}-${pin}`, id, secretHash: hashSecret(secretBytes), pin };
}

function malformed(what: string): EnrollError {
  return new EnrollError('INSEL_CODE_MALFORMED', `this is not an enrollment code: ${what}; copy the whole code (insel-…, 68 characters) again, or ask the administrator for a new code`, {
    field: 'code',
  });
}

const PARTS: [string, number][] = [
  ['id', ID_CHARS],
  ['secret', SECRET_CHARS],
  ['pin', PIN_CHARS],
];

/** Parses a code as a person typed it. Throws EnrollError INSEL_CODE_MALFORMED saying what is off. */
export function parseCode(text: string): ParsedCode {
  if (typeof text !== 'string') throw malformed('it is not text');
  const code = text.trim().toLowerCase();
  if (code.length > MAX_TEXT) throw malformed(`it is ${code.length} characters long`);
  if (!code.startsWith(CODE_PREFIX)) throw malformed('it does not start with "insel-"');
  const parts = code.slice(CODE_PREFIX.length).split('-');
  if (parts.length !== PARTS.length) throw malformed(`it has ${parts.length} parts after "insel-" where there should be 3 (id, secret, pin)`);
  for (const [i, [name, chars]] of PARTS.entries()) {
    const part = parts[i] as string;
    if (part.length !== chars) throw malformed(`its ${name} part has ${part.length} characters instead of ${chars}`);
    if (!/^[a-z2-7]+$/.test(part)) throw malformed(`its ${name} part has characters other than the letters a-z and the digits 2-7 (0, 1, 8 and 9 never occur)`);
  }
  const [id, secret, pin] = parts as [string, string, string];
  return { id, secret, secretHash: hashSecret(unbase32(secret)), pin };
}

/**
 * True if the chain a server presented (DER, leaf first, as TLS delivered it)
 * ends at a self-signed CA certificate whose pin is `pin`, and each
 * certificate is signed by the next. Role and dates are checked by the caller
 * (verifyPeerChain under a trust made from that root).
 */
export function pinMatches(chain: readonly Uint8Array[], pin: string): boolean {
  return pinnedRoot(chain, pin) !== undefined;
}

/** The DER of the pinned root at the end of `chain` (see pinMatches), or undefined. */
export function pinnedRoot(chain: readonly Uint8Array[], pin: string): Uint8Array | undefined {
  const root = chain[chain.length - 1];
  if (root === undefined || chain.length > 4 || pinOf(root) !== pin) return undefined;
  const certs = chain.map((der) => parseCert(der));
  for (let i = 0; i < certs.length; i++) {
    const cert = certs[i];
    const issuer = certs[Math.min(i + 1, certs.length - 1)];
    if (!cert || !issuer?.key || !cert.issuer.equals(issuer.subject) || !isSignedBy(cert.cert, issuer.key)) return undefined;
    if (i < certs.length - 1 && !(issuer.isCa && issuer.mayCertSign)) return undefined;
  }
  return certs[certs.length - 1]?.isCa ? root : undefined;
}
