// @peculiar/x509 behind one import. Its DI container (tsyringe) needs the
// Reflect metadata polyfill loaded before the library itself, and it signs
// through WebCrypto, which must be set as its provider. Import x509 from here,
// never from '@peculiar/x509' directly (types only are fine).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

/** ECDSA P-256 with SHA-256: the only key and signature kind insel issues. */
export const KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGNING_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

/** A copy of `der` as the ArrayBuffer the library's parsers take. */
export function toArrayBuffer(der: Uint8Array): ArrayBuffer {
  return new Uint8Array(der).buffer;
}
