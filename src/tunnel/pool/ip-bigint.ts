// IP addresses as bigints, for pool arithmetic (network + offset, range
// checks) without a dependency. Only plain addresses: no zone, no prefix.
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

export const FAMILY_BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** The address as a number, or undefined when `text` is no plain IPv4/IPv6 address. */
export function parseIp(text: string): { family: Family; value: bigint } | undefined {
  if (isIPv4(text)) return { family: 4, value: text.split('.').reduce((n, octet) => (n << 8n) | BigInt(octet), 0n) };
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let s = text;
  const tail = s.slice(s.lastIndexOf(':') + 1);
  if (tail.includes('.')) {
    // ::ffff:1.2.3.4: the dotted quad is the last two groups
    const v4 = parseIp(tail)!.value;
    s = `${s.slice(0, s.length - tail.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = s.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const h = groups(head);
  const r = rest === undefined ? [] : groups(rest);
  const all = [...h, ...new Array<string>(8 - h.length - r.length).fill('0'), ...r];
  return { family: 6, value: all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

/** The canonical text (RFC 5952 for IPv6: lower case, the longest run of two or more zero groups as ::). */
export function formatIp(value: bigint, family: Family): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => ((value >> s) & 0xffn).toString()).join('.');
  const words: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) words.push(Number((value >> s) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  return best < 0 ? hex(words) : `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}
