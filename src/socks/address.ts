// SOCKS5 addresses (RFC 1928 §4-§5): ATYP | ADDR | PORT u16be, where ADDR is
// 4 bytes (IPv4), 16 bytes (IPv6), or a length byte and 1-255 bytes (domain).
// Used by the SOCKS server (requests, replies, UDP headers) and on the UDP
// association wire (src/udpflow), so the text forms are fixed: IPv4 dotted,
// IPv6 exactly as node prints addresses (rinfo.address, dns.lookup), so the
// gateway can compare a destination with a reply's source as strings.
import { isIPv4, isIPv6 } from 'node:net';
import { Reply, SocksError } from './errors.js';

export const ATYP = { IPV4: 1, DOMAIN: 3, IPV6: 4 } as const;
export const MAX_DOMAIN = 255;

export interface SocksAddress {
  atyp: 1 | 3 | 4;
  host: string;
  port: number;
}

const PORT_SIZE = 2;
const IPV4_SIZE = 4;
const IPV6_SIZE = 16;

/** Reads an address at `offset`. Returns undefined if `buf` is too short to hold it all (incremental parsing);
 *  throws SocksError('INSEL_SOCKS_ADDRESS', ...) for a bad ATYP (reply 0x08) or a bad domain (0-length or non-printable). */
export function readAddress(buf: Buffer, offset: number): { address: SocksAddress; end: number } | undefined {
  if (buf.length <= offset) return undefined;
  const atyp = buf[offset]!;
  const at = offset + 1;
  let host: string;
  let end: number;
  switch (atyp) {
    case ATYP.IPV4:
      end = at + IPV4_SIZE + PORT_SIZE;
      if (buf.length < end) return undefined;
      // Per datagram at the gateway: one string, no view or array on the way.
      host = `${buf[at]!}.${buf[at + 1]!}.${buf[at + 2]!}.${buf[at + 3]!}`;
      break;
    case ATYP.IPV6:
      end = at + IPV6_SIZE + PORT_SIZE;
      if (buf.length < end) return undefined;
      host = ipv6Text(buf, at);
      break;
    case ATYP.DOMAIN: {
      if (buf.length <= at) return undefined;
      const len = buf[at]!;
      // An empty name is wrong however many bytes follow: no need to wait for them.
      if (len === 0) throw badDomain('the domain name is empty');
      end = at + 1 + len + PORT_SIZE;
      if (buf.length < end) return undefined;
      host = buf.toString('latin1', at + 1, at + 1 + len);
      const problem = domainProblem(host);
      if (problem !== undefined) throw badDomain(problem);
      break;
    }
    default:
      throw new SocksError(
        'INSEL_SOCKS_ADDRESS',
        `SOCKS address: type ${atyp} is unknown (expected 1 for IPv4, 3 for a domain name, 4 for IPv6)`,
        Reply.ADDRESS_TYPE_NOT_SUPPORTED,
      );
  }
  return { address: { atyp, host, port: buf.readUInt16BE(end - PORT_SIZE) }, end };
}

/** The encoded length of `host` as a SOCKS address plus 2 port bytes. */
export function encodedAddressLength(host: string): number {
  switch (typeOf(host)) {
    case ATYP.IPV4:
      return 1 + IPV4_SIZE + PORT_SIZE;
    case ATYP.IPV6:
      return 1 + IPV6_SIZE + PORT_SIZE;
    case ATYP.DOMAIN:
      return 1 + 1 + host.length + PORT_SIZE;
  }
}

/** Encodes host:port: an IPv4/IPv6 literal as ATYP 1/4, anything else as a domain (1-255 printable ASCII bytes).
 *  Writes into `out` at `offset` and returns the end offset (a RangeError if `out` is too small: size it with
 *  encodedAddressLength). An IPv6 zone ("%eth0") is dropped: it means nothing to the other end. */
export function writeAddress(out: Buffer, offset: number, host: string, port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new SocksError('INSEL_SOCKS_ADDRESS', `SOCKS address: port ${port} is not in 0-65535`, Reply.GENERAL_FAILURE);
  }
  const atyp = typeOf(host);
  let at = out.writeUInt8(atyp, offset);
  if (atyp === ATYP.IPV4) {
    for (const part of host.split('.')) at = out.writeUInt8(Number(part), at);
  } else if (atyp === ATYP.IPV6) {
    for (const group of ipv6Groups(host)) at = out.writeUInt16BE(group, at);
  } else {
    at = out.writeUInt8(host.length, at);
    at += out.write(host, at, 'latin1');
  }
  return out.writeUInt16BE(port, at);
}

export function encodeAddress(host: string, port: number): Buffer {
  const out = Buffer.alloc(encodedAddressLength(host));
  writeAddress(out, 0, host, port);
  return out;
}

function typeOf(host: string): 1 | 3 | 4 {
  if (isIPv4(host)) return ATYP.IPV4;
  if (isIPv6(host)) return ATYP.IPV6;
  const problem = domainProblem(host);
  if (problem !== undefined) throw badDomain(problem);
  return ATYP.DOMAIN;
}

/** Printable ASCII only, as wire.ts's OPEN: no spaces, controls or bytes a resolver or log line could misread. */
function domainProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_DOMAIN) return `the domain name must be 1-${MAX_DOMAIN} bytes, not ${name.length}`;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return `the domain name ${JSON.stringify(name)} has a byte outside printable ASCII (use punycode for IDNs)`;
  }
  return undefined;
}

function badDomain(problem: string): SocksError {
  return new SocksError('INSEL_SOCKS_ADDRESS', `SOCKS address: ${problem}`, Reply.GENERAL_FAILURE);
}

/** 16 bytes as node (libuv's inet_ntop) prints them: lowercase hex, the first longest run of two or more zero
 *  groups as "::" (RFC 5952), and ::a.b.c.d / ::ffff:a.b.c.d with the IPv4 part dotted. The fuzz test holds it to
 *  net.SocketAddress, which is 6 times slower (this runs for every datagram to an IPv6 destination). */
function ipv6Text(buf: Buffer, at: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(buf.readUInt16BE(at + 2 * i));
  let best = -1;
  let bestLen = 1; // a single zero group is written as 0, not ::
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const dotted = best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff));
  const last = dotted ? 6 : 8;
  const hex = (from: number, to: number) => w.slice(from, to).map((x) => x.toString(16)).join(':');
  const text = best < 0 ? hex(0, last) : `${hex(0, best)}::${hex(best + bestLen, last)}`;
  if (!dotted) return text;
  return `${text}${text.endsWith(':') ? '' : ':'}${buf.subarray(at + 12, at + 16).join('.')}`;
}

/** The 8 groups of an IPv6 literal node's isIPv6 accepted ("::" once, a dotted IPv4 tail, a zone). */
function ipv6Groups(text: string): number[] {
  let s = text.split('%')[0]!;
  const tail = s.lastIndexOf(':') + 1;
  if (s.includes('.', tail)) {
    const [a, b, c, d] = s.slice(tail).split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, tail)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  if (rest === undefined) return groups(head);
  const h = groups(head);
  const t = groups(rest);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}
