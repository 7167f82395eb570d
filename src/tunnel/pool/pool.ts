// The address pool of a CA-mode server: an IPv4 and/or IPv6 address per
// client identity. An identity keeps its addresses across reconnects (a
// released address stays reserved for it) and, with `ifconfig-pool-persist
// FILE [seconds]`, across restarts. Only when every address of a family is
// held is the reservation of the identity released longest ago reclaimed
// (as OpenVPN does); when all are in use, lease() fails with
// INSEL_TUNNEL_FULL naming the pool size and max-clients.
//
// Persistence (pool-file.ts): the file is read at start (a malformed file
// stops the server; entries outside today's pool are dropped with a
// warning) and rewritten `seconds` after a change (OpenVPN's default is 600)
// and on close(); `seconds` 0 means read-only, as in OpenVPN.
import { configError } from '../../config/errors.js';
import { TunnelError } from '../errors.js';
import { formatIp, parseIp, type Family } from './ip-bigint.js';
import { FamilyPool } from './pool-family.js';
import { isPoolIdentity, poolFileError, readPoolFile, writePoolFile } from './pool-file.js';
import { poolRange } from './pool-range.js';

/** What the pool reads of a TunnelConfig. */
export interface PoolConfig {
  file: string;
  server?: { network: string; prefix: number };
  serverIpv6?: { network: string; prefix: number };
  poolPersist?: { file: string; seconds: number };
  maxClients: number;
}

export interface Lease {
  ipv4?: string;
  ipv6?: string;
}

interface Entry {
  addr: Partial<Record<Family, bigint>>;
  /** sessions holding the lease: a reconnect may lease before the old session releases */
  holders: number;
}

export class AddressPool {
  private readonly families: FamilyPool[] = [];
  private readonly entries = new Map<string, Entry>();
  /** identities with no holder, least recently released first: the order of reclaiming */
  private readonly idle = new Set<string>();
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cfg: PoolConfig,
    /** what the daemon should log: file entries outside the pool (at start), reclaimed reservations, failed writes */
    private readonly warn: (msg: string) => void = (msg) => process.stderr.write(`insel: ${msg}\n`),
  ) {
    if (cfg.server !== undefined) this.families.push(new FamilyPool(poolRange(4, cfg.server.network, cfg.server.prefix, cfg.file, 'server')));
    if (cfg.serverIpv6 !== undefined) this.families.push(new FamilyPool(poolRange(6, cfg.serverIpv6.network, cfg.serverIpv6.prefix, cfg.file, 'server-ipv6')));
    if (this.families.length === 0) throw configError(cfg.file, 'server', 'a CA server needs an address pool: add "server NETWORK NETMASK" and/or "server-ipv6 NETWORK/PREFIX"');
    if (cfg.poolPersist !== undefined) this.load(cfg.poolPersist.file);
  }

  /** Client addresses: the smaller family's count. */
  get size(): bigint {
    return this.families.reduce((m, f) => (f.range.size < m ? f.range.size : m), this.families[0]!.range.size);
  }

  /** The addresses of `identity`: the ones it had, else free ones. TunnelError INSEL_TUNNEL_FULL when none is left. */
  lease(identity: string): Lease {
    if (!isPoolIdentity(identity)) throw new RangeError(`${JSON.stringify(identity.slice(0, 80))} cannot key the pool: printable ASCII without commas, at most 256`);
    const known = this.entries.get(identity);
    const e: Entry = known ?? { addr: {}, holders: 0 };
    if (known === undefined) this.entries.set(identity, e);
    const wasIdle = this.idle.delete(identity); // not a candidate for reclaiming while we fill it in
    for (const f of this.families) {
      if (e.addr[f.range.family] !== undefined) continue;
      const v = this.freeAddress(f);
      if (v === undefined) {
        if (known === undefined) this.forget(identity);
        else if (wasIdle) this.idle.add(identity);
        throw this.full(f);
      }
      f.take(v, identity);
      e.addr[f.range.family] = v;
      this.changed();
    }
    e.holders++;
    return this.leaseOf(e);
  }

  /** A session of `identity` ended; its addresses stay reserved for it until the pool needs them. */
  release(identity: string): void {
    const e = this.entries.get(identity);
    if (e === undefined || e.holders === 0) return;
    if (--e.holders === 0) this.idle.add(identity);
  }

  /** The addresses `identity` holds or has reserved, without leasing. */
  peek(identity: string): Lease | undefined {
    const e = this.entries.get(identity);
    return e === undefined ? undefined : this.leaseOf(e);
  }

  /** Writes the persist file now if anything changed (no-op without ifconfig-pool-persist or with seconds 0). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.cfg.poolPersist;
    if (p === undefined || p.seconds === 0 || !this.dirty) return;
    const list = [...this.entries].map(([identity, e]) => ({ identity, ...this.leaseOf(e) }));
    writePoolFile(p.file, list);
    this.dirty = false;
  }

  /** Final write; the pool must not be used afterwards. */
  close(): void {
    this.flush();
  }

  private freeAddress(f: FamilyPool): bigint | undefined {
    for (;;) {
      const v = f.free();
      if (v !== undefined) return v;
      const oldest = this.idle.values().next();
      if (oldest.done === true) return undefined;
      const victim = oldest.value;
      if (this.cfg.poolPersist !== undefined) this.warn(`address pool ${f.range.label} is full: the reserved addresses of ${victim} go to a new client`);
      this.forget(victim);
    }
  }

  private forget(identity: string): void {
    const e = this.entries.get(identity);
    if (e === undefined) return;
    for (const f of this.families) {
      const v = e.addr[f.range.family];
      if (v !== undefined) f.giveBack(v);
    }
    this.entries.delete(identity);
    this.idle.delete(identity);
    this.changed();
  }

  private full(f: FamilyPool): TunnelError {
    return new TunnelError(
      'INSEL_TUNNEL_FULL',
      `the address pool ${f.range.label} is exhausted: all its ${f.range.size} client addresses are in use (max-clients is ${this.cfg.maxClients}); make the pool bigger in ${this.cfg.file} or set max-clients to at most ${f.range.size}`,
      { file: this.cfg.file },
    );
  }

  private leaseOf(e: Entry): Lease {
    const out: Lease = {};
    if (e.addr[4] !== undefined) out.ipv4 = formatIp(e.addr[4], 4);
    if (e.addr[6] !== undefined) out.ipv6 = formatIp(e.addr[6], 6);
    return out;
  }

  private changed(): void {
    this.dirty = true;
    const p = this.cfg.poolPersist;
    if (p === undefined || p.seconds === 0 || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.flush();
      } catch (err) {
        this.warn(`cannot write ${p.file}: ${(err as Error).message}; trying again at the next change`);
      }
    }, p.seconds * 1000).unref();
  }

  /** Reserves the file's addresses for their identities, all idle (oldest first, as in the file). */
  private load(file: string): void {
    for (const row of readPoolFile(file)) {
      const e: Entry = { addr: {}, holders: 0 };
      for (const [family, text] of [[4, row.ipv4], [6, row.ipv6]] as const) {
        if (text === undefined) continue;
        const f = this.families.find((x) => x.range.family === family);
        const v = parseIp(text)!.value;
        if (f === undefined || !f.contains(v)) {
          this.warn(`${file}:${row.line}: ${text} of ${row.identity} is outside today's pool; ${row.identity} gets a new address`);
          this.dirty = true;
          continue;
        }
        const other = f.ownerOf(v);
        if (other !== undefined) throw poolFileError(file, row.line, `${text} is given to ${other} too`);
        f.take(v, row.identity);
        e.addr[family] = v;
      }
      if (e.addr[4] === undefined && e.addr[6] === undefined) continue;
      this.entries.set(row.identity, e);
      this.idle.add(row.identity);
    }
  }
}
