// The client part of a server's network: which addresses the pool hands out.
//   IPv4 `server 10.8.0.0 255.255.255.0`: the server is .1; clients get .2 up
//   to the last address below broadcast (a /24 has 253).
//   IPv6 `server-ipv6 fd00:8::/64`: the server is ::1; clients get ::1000 and
//   up, as OpenVPN's pool does (the low addresses stay free for static use).
import { configError } from '../../config/errors.js';
import { FAMILY_BITS, formatIp, parseIp, type Family } from './ip-bigint.js';

export interface PoolRange {
  family: Family;
  /** the network as written in messages: 10.8.0.0/24 */
  label: string;
  server: bigint;
  first: bigint;
  last: bigint;
  /** client addresses: last - first + 1 */
  size: bigint;
}

/** The smallest networks we accept: a /30 holds one client; a /112 leaves 61,440 IPv6 clients. */
const MAX_PREFIX: Record<Family, number> = { 4: 30, 6: 112 };
const IPV6_FIRST_CLIENT = 0x1000n;

/** The pool of `network/prefix`; ConfigError naming `file` and `directive` when it is not a network of that family with room for clients. */
export function poolRange(family: Family, network: string, prefix: number, file: string, directive: string): PoolRange {
  const ip = parseIp(network);
  const bits = FAMILY_BITS[family];
  if (ip?.family !== family) throw configError(file, directive, `${JSON.stringify(network)} is not an IPv${family} network address`);
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > MAX_PREFIX[family]) {
    throw configError(file, directive, `a pool of /${prefix} has no room for clients; use a prefix between /1 and /${MAX_PREFIX[family]} (e.g. ${family === 4 ? '255.255.255.0' : '/64'})`);
  }
  const hostBits = BigInt(bits - prefix);
  const hostMask = (1n << hostBits) - 1n;
  if ((ip.value & hostMask) !== 0n) {
    throw configError(file, directive, `${network}/${prefix} has host bits set; did you mean ${formatIp(ip.value & ~hostMask, family)}?`);
  }
  const base = ip.value;
  const first = base + (family === 4 ? 2n : IPV6_FIRST_CLIENT);
  const last = base + hostMask - (family === 4 ? 1n : 0n); // IPv4: not the broadcast address
  return { family, label: `${network}/${prefix}`, server: base + 1n, first, last, size: last - first + 1n };
}
