// Name resolution at the gateway: the hosts file, then DNS through c-ares
// (dns.promises.Resolver: asynchronous sockets, a timeout per query), never
// getaddrinfo. getaddrinfo runs on libuv's 4-thread pool, so four lookups of
// a name that never answers would stall every other lookup (and fs work) of
// the process for the resolver's whole timeout.
//
// c-ares's resolve4/resolve6 ask the DNS servers only; the hosts file is read
// here once, when the config is loaded (and on reload), so "localhost" and
// names pinned there keep resolving as they did with getaddrinfo. "localhost"
// and "*.localhost" are loopback even without a hosts file (RFC 6761 §6.3).
import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ForwardError } from '../forward/errors.js';

export interface DnsConfig {
  /** "ip" or "ip:port" ("[v6]:port"); absent: the system's (/etc/resolv.conf) */
  servers?: string[];
  /** a lookup not answered within this is refused */
  timeoutMs: number;
  /** names answered from this file first; '' for none */
  hostsFile: string;
}

export const DEFAULT_HOSTS_FILE = '/etc/hosts';
export const DEFAULT_DNS_TIMEOUT_MS = 5_000;

/** Why a name has no address: ENOTFOUND/ENODATA (no such name), ETIMEOUT (no answer in time), or another c-ares code. */
export class ResolveError extends ForwardError {
  constructor(
    readonly why: string,
    message: string,
  ) {
    super('INSEL_UNKNOWN_HOST', message);
  }
}

/** Why `server` is not a DNS server address c-ares takes ("10.0.0.53", "10.0.0.53:5353", "[fd00::53]:53"), or undefined. */
export function dnsServersProblem(server: string): string | undefined {
  try {
    new Resolver().setServers([server]);
    return undefined;
  } catch {
    return `${JSON.stringify(server)} is not a DNS server address: use an IP, optionally with a port ("10.0.0.53", "10.0.0.53:5353", "[fd00::53]:53")`;
  }
}

/** name → addresses of a hosts(5) file; missing or unreadable: empty (getaddrinfo would ignore it too). */
export function parseHostsFile(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const [address, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (address === undefined || isIP(address) === 0) continue;
    for (const n of names) {
      const name = n.toLowerCase();
      const list = out.get(name) ?? [];
      if (!list.includes(address)) list.push(address);
      out.set(name, list);
    }
  }
  return out;
}

function readHosts(file: string): Map<string, string[]> {
  if (file === '') return new Map();
  try {
    return parseHostsFile(readFileSync(file, 'utf8'));
  } catch {
    return new Map();
  }
}

export class NameResolver {
  private readonly dns: Resolver;
  private readonly hosts: Map<string, string[]>;

  constructor(readonly config: DnsConfig) {
    // c-ares takes up to about twice its per-try timeout (measured: 500 ms gave 931 ms), so it
    // gets half of ours, and our own deadline in resolve() makes the limit exact.
    this.dns = new Resolver({ timeout: Math.max(1, Math.ceil(config.timeoutMs / 2)), tries: 1 });
    if (config.servers !== undefined) this.dns.setServers(config.servers);
    this.hosts = readHosts(config.hostsFile);
  }

  /** The name's addresses, IPv4 first; ResolveError when there are none. */
  async resolve(name: string): Promise<string[]> {
    const pinned = this.hosts.get(name);
    if (pinned !== undefined) return pinned;
    if (name === 'localhost' || name.endsWith('.localhost')) return ['127.0.0.1', '::1'];
    const [v4, v6] = await Promise.allSettled([this.withDeadline(this.dns.resolve4(name)), this.withDeadline(this.dns.resolve6(name))]);
    const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (addresses.length > 0) return addresses;
    const codes = [v4, v6].map((r) => (r.status === 'rejected' ? String((r.reason as NodeJS.ErrnoException).code ?? r.reason) : 'ENODATA'));
    if (codes.includes('ETIMEOUT')) {
      throw new ResolveError('ETIMEOUT', `the gateway's DNS did not answer for ${name} within ${this.config.timeoutMs} ms ([dns] timeout in the gateway config)`);
    }
    const why = codes.find((c) => c !== 'ENODATA' && c !== 'ENOTFOUND') ?? 'ENOTFOUND';
    throw new ResolveError(why, `unknown host ${name}: the gateway cannot resolve it (${why})`);
  }

  private withDeadline<T>(query: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('DNS timeout'), { code: 'ETIMEOUT' })), this.config.timeoutMs);
    });
    return Promise.race([query, deadline]).finally(() => clearTimeout(timer));
  }
}
