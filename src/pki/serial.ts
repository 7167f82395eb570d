// Certificate serial numbers as insel writes and compares them: lowercase hex
// without leading zeros ("0" for zero), the form Identity.serial promises.
import { randomBytes } from 'node:crypto';

export function normalizeSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^0+/, '');
  return s === '' ? '0' : s;
}

/**
 * About 127 random bits: 16 bytes, the first in 0x10..0x7f, so the DER INTEGER
 * is positive and its hex (even length, as the generator wants) is already normal.
 */
export function newSerial(): string {
  const b = randomBytes(16);
  b[0] = 0x10 + ((b[0] as number) % 0x70);
  return b.toString('hex');
}

/** True if `text` looks like a serial as a user would type one: hex digits, optionally with leading zeros. */
export function isSerialLike(text: string): boolean {
  return /^[0-9a-fA-F]{1,64}$/.test(text);
}
