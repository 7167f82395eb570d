// The client side of the SOCKS5 handshake, for tests: the server never sends
// these, so they live here and not in messages.ts.
import { encodeAddress } from './address.js';
import { SOCKS_VERSION } from './messages.js';

export function encodeGreeting(methods: number[]): Buffer {
  return Buffer.from([SOCKS_VERSION, methods.length, ...methods]);
}

/** RFC 1929; lengths are byte lengths of the UTF-8 text. */
export function encodeUserPass(username: string, password: string): Buffer {
  const u = Buffer.from(username);
  const p = Buffer.from(password);
  return Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]);
}

export function encodeRequest(command: number, host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, command, 0]), encodeAddress(host, port)]);
}

/** Every strict prefix of `b`, shortest first: each must parse as "need more bytes". */
export function prefixes(b: Buffer): Buffer[] {
  return Array.from({ length: b.length }, (_, n) => b.subarray(0, n));
}
