// @peculiar/x509 behind one import. Its DI container (tsyringe) needs the
// Reflect metadata polyfill loaded before the library itself, and it signs
// through WebCrypto, which must be set as its provider. Import x509 from here,
// never from '@peculiar/x509' directly (types only are fine).
import 'reflect-metadata';
import { createRequire } from 'node:module';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);
readLargeOidArcs();

export { x509 };

/** ECDSA P-256 with SHA-256: the only key and signature kind insel issues. */
export const KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGNING_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

/** A copy of `der` as the ArrayBuffer the library's parsers take. */
export function toArrayBuffer(der: Uint8Array): ArrayBuffer {
  return new Uint8Array(der).buffer;
}

interface SidBlock {
  isHexOnly: boolean;
  isFirstSid: boolean;
  valueDec: number;
  /** the arc's base-128 digits, continuation bits cleared */
  valueHexView: Uint8Array;
}

/**
 * insel's own extension (grants.ts) sits under 2.25.<uuid> (X.667), an arc
 * above 2^53. asn1js keeps such an arc only as hex, the library's OID
 * converter renders it "2.25.{…}", and the certificate generator, which
 * re-parses every extension, then drops the arc: the certificate would carry
 * OID 2.25. Read such arcs as decimals, as X.660 writes them. The converter
 * is taken from the copy of @peculiar/asn1-schema that @peculiar/x509 loads.
 */
function readLargeOidArcs(): void {
  const schemaOf = createRequire(import.meta.resolve('@peculiar/x509'));
  const { AsnObjectIdentifierConverter: oid } = schemaOf('@peculiar/asn1-schema') as {
    AsnObjectIdentifierConverter: { fromASN(value: { valueBlock: { value: SidBlock[]; toString(): string } }): string };
  };
  const lossy = oid.fromASN.bind(oid);
  oid.fromASN = (value) => {
    const sids = value.valueBlock.value;
    if (!sids.some((s) => s.isHexOnly)) return lossy(value);
    return sids
      .map((s) => {
        const n = s.isHexOnly ? s.valueHexView.reduce((acc, digit) => acc * 128n + BigInt(digit), 0n) : BigInt(s.valueDec);
        if (!s.isFirstSid) return n.toString();
        return n < 40n ? `0.${n}` : n < 80n ? `1.${n - 40n}` : `2.${n - 80n}`;
      })
      .join('.');
  };
}
