// IP address helpers for the bounce check and for choosing PORT or EPRT.
// A client on an IPv6 socket shows up as ::ffff:127.0.0.1 while its PORT
// says 127.0.0.1: both must compare equal, so addresses are compared in one
// canonical text form.
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The canonical text of an IP address: a dotted quad for IPv4 and for
 * IPv4-mapped IPv6, otherwise eight lower-case hex groups (zone kept).
 * `undefined` when `addr` is not an IP address.
 */
export function canonicalIp(addr: string): string | undefined {
  if (isIPv4(addr)) return addr.split('.').map(Number).join('.');
  if (!isIPv6(addr)) return undefined;
  const groups = ipv6Groups(addr);
  if (groups === undefined) return undefined;
  const { words, zone } = groups;
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return [words[6]! >> 8, words[6]! & 0xff, words[7]! >> 8, words[7]! & 0xff].join('.');
  }
  return words.map((w) => w.toString(16)).join(':') + zone;
}

/** True when both are IP addresses naming the same host. */
export function sameHost(a: string, b: string): boolean {
  const ca = canonicalIp(a);
  return ca !== undefined && ca === canonicalIp(b);
}

/** IPv4 (including IPv4-mapped IPv6) as four octets, else undefined. */
export function ipv4Octets(addr: string): number[] | undefined {
  const c = canonicalIp(addr);
  return c !== undefined && isIPv4(c) ? c.split('.').map(Number) : undefined;
}

function ipv6Groups(addr: string): { words: number[]; zone: string } | undefined {
  let s = addr;
  let zone = '';
  const pct = s.indexOf('%');
  if (pct >= 0) {
    zone = s.slice(pct);
    s = s.slice(0, pct);
  }
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return undefined;
    const q = tail.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string) => (h === '' ? [] : h.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const words = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest];
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff)) return undefined;
  return { words, zone };
}
