// cipher, data-ciphers, data-ciphers-fallback and auth as OpenVPN spells
// them (AES-256-GCM, any case) → insel's AEADs. What is broken comes from
// secsock/algorithms.ts; CBC and other non-AEAD ciphers are refused too:
// the data channel is AEAD only.
import { AEADS, brokenAlgorithmError, HASHES, type Aead } from '../secsock/algorithms.js';
import type { Fail } from './addresses.js';

const MODERN = 'use AES-256-GCM or CHACHA20-POLY1305';

function isBroken(name: string): boolean {
  // The family counts too: BF-CFB, DES-EDE3-OFB, RC4-40 are as broken as BF-CBC.
  return brokenAlgorithmError(name, '') !== undefined || brokenAlgorithmError(name.split('-')[0]!, '') !== undefined;
}

/** An OpenVPN cipher name → an insel AEAD; `fail` names a modern one otherwise. */
export function aead(name: string, fail: Fail): Aead {
  const lower = name.toLowerCase();
  const found = AEADS.find((a) => a === lower);
  if (found !== undefined) return found;
  if (isBroken(lower)) fail(`${name} is broken and insel does not implement it`, MODERN);
  if (lower === 'none') fail('insel always encrypts the data channel', MODERN);
  if (lower.endsWith('-cbc')) fail(`${name} is a CBC cipher; insel's data channel uses AEAD ciphers only`, MODERN);
  if (/^aes-(128|192)-gcm$/.test(lower)) fail(`${name}: insel's data channel uses 256-bit keys`, MODERN);
  return fail(`unknown or unsupported cipher ${name}`, MODERN);
}

/** `data-ciphers A:B`: AEADs in order, colon-separated as OpenVPN writes them. */
export function aeadList(text: string, fail: Fail): Aead[] {
  const out: Aead[] = [];
  for (const name of text.split(':')) {
    if (name === '') fail(`empty cipher name in ${JSON.stringify(text)}`, 'e.g. AES-256-GCM:CHACHA20-POLY1305');
    const a = aead(name, fail);
    if (out.includes(a)) fail(`${name} is listed twice`, 'list each cipher once');
    out.push(a);
  }
  return out;
}

/** `auth DIGEST`: with AEAD ciphers the tag authenticates, so a sound digest is accepted and has no effect; MD5 and SHA1 are refused. */
export function authDigest(name: string, fail: Fail): void {
  const lower = name.toLowerCase();
  if (HASHES.some((h) => h === lower)) return;
  const why = isBroken(lower) ? `${name} is broken` : `unknown digest ${name}`;
  fail(why, `insel's data channel is authenticated by its AEAD (${MODERN.slice(4)}): leave auth out, or write auth SHA256`);
}
