// Addresses, netmasks and prefixes as tunnel directives write them. IP
// literals are recognized by node:net (isIP); IPv6 text is brought to its
// canonical form by the WHATWG URL parser, so nothing here parses IPv6 by hand.
import { isIPv4, isIPv6 } from 'node:net';
import { quote } from '../errors.js';

/** Reports a bad argument: (problem, hint). */
export type Fail = (problem: string, hint?: string) => never;

export function ipv4(text: string, what: string, fail: Fail, example: string): string {
  if (!isIPv4(text)) fail(`${what} ${quote(text)} is not an IPv4 address`, `e.g. ${example}`);
  return text;
}

function ipv4Int(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function intIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** The prefix length of a contiguous IPv4 netmask (255.255.255.0 → 24). */
export function netmask(text: string, fail: Fail, example: string): number {
  if (!isIPv4(text)) fail(`netmask ${quote(text)} is not an IPv4 netmask`, `e.g. ${example}`);
  const n = ipv4Int(text);
  const prefix = 32 - Math.log2(2 ** 32 - n);
  if (!Number.isInteger(prefix)) fail(`netmask ${text} is not contiguous (ones, then zeros)`, `e.g. ${example}`);
  return prefix;
}

export function prefixNetmask(prefix: number): string {
  return intIpv4(2 ** 32 - 2 ** (32 - prefix));
}

/** An IPv4 network with `mask`: the host bits must be zero, as ip(8) and OpenVPN insist. */
export function ipv4Network(network: string, mask: string, fail: Fail, example: string): number {
  ipv4(network, 'network', fail, example);
  const prefix = netmask(mask, fail, example);
  const hostBits = ipv4Int(network) % 2 ** (32 - prefix);
  if (hostBits !== 0) fail(`${network} has host bits set for netmask ${mask}`, `the network is ${intIpv4(ipv4Int(network) - hostBits)}`);
  return prefix;
}

/** Canonical lower-case compressed IPv6 text, or undefined; zone ids (fe80::1%eth0) are refused. */
function canonicalIpv6(text: string): string | undefined {
  if (!isIPv6(text) || text.includes('%')) return undefined;
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

export function ipv6(text: string, what: string, fail: Fail, example: string): string {
  const a = canonicalIpv6(text);
  if (a === undefined) fail(`${what} ${quote(text)} is not an IPv6 address`, `e.g. ${example}`);
  return a;
}

/** The 16-bit groups of canonical IPv6 text. */
function groups(a: string): number[] {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const part = (s: string | undefined) => (s === undefined || s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = part(head);
  const t = part(tail);
  return tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** ADDR/PREFIX: an IPv6 address and a prefix length in [min, max]. */
export function ipv6Cidr(text: string, what: string, fail: Fail, example: string, min = 0, max = 128): { address: string; prefix: number } {
  const slash = text.lastIndexOf('/');
  const p = text.slice(slash + 1);
  if (slash < 0 || !/^[0-9]{1,3}$/.test(p)) fail(`${what} ${quote(text)} is not ADDRESS/PREFIX`, `e.g. ${example}`);
  const prefix = Number(p);
  if (prefix < min || prefix > max) fail(`${what} prefix /${prefix} is out of range`, `use /${min} to /${max}, e.g. ${example}`);
  return { address: ipv6(text.slice(0, slash), what, fail, example), prefix };
}

/** NET/PREFIX with the host bits zero. */
export function ipv6Network(text: string, what: string, fail: Fail, example: string, min = 0, max = 128): { network: string; prefix: number } {
  const { address, prefix } = ipv6Cidr(text, what, fail, example, min, max);
  const g = groups(address);
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, prefix - 16 * i));
    if ((g[i]! & (0xffff >> keep)) !== 0) fail(`${text} has host bits set for /${prefix}`, `clear the bits after the first ${prefix}, e.g. ${example}`);
  }
  return { network: address, prefix };
}
