// The relays a site gateway has open, both ends (out: a user of this site to
// another site's service; in: another site's user to one of ours), so that a
// revocation event from HQ cuts every relay of a listed user or site, and so
// that one user holds at most relays_per_user of them at its site.
export interface Relay {
  /** the user it serves, and the serial of the certificate it came with */
  user: string;
  serial: string;
  /** the user's site and the service's site */
  sites: [string, string];
  cut(reason: string): void;
}

export class Relays {
  private readonly open = new Set<Relay>();
  private readonly perUser = new Map<string, number>();

  constructor(private readonly maxPerUser: () => number) {}

  get size(): number {
    return this.open.size;
  }

  /** One of `user`'s relay slots, or undefined over the limit; release exactly once. */
  take(user: string): (() => void) | undefined {
    const n = this.perUser.get(user) ?? 0;
    if (n >= this.maxPerUser()) return undefined;
    this.perUser.set(user, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.perUser.get(user) ?? 1) - 1;
      if (left === 0) this.perUser.delete(user);
      else this.perUser.set(user, left);
    };
  }

  /** Tracks an open relay; returns its removal. */
  add(relay: Relay): () => void {
    this.open.add(relay);
    return () => this.open.delete(relay);
  }

  /** Cuts every relay of a listed user or serial, or with a listed site at either end; returns how many. */
  cutRevoked(names: readonly { role: string; name: string }[], serials: readonly string[], reason: string): number {
    let n = 0;
    for (const r of [...this.open]) {
      const hit = serials.includes(r.serial) || names.some((x) => (x.role === 'user' && x.name === r.user) || (x.role === 'site' && r.sites.includes(x.name)));
      if (!hit) continue;
      this.open.delete(r);
      r.cut(reason);
      n++;
    }
    return n;
  }

  /** Cuts every relay (the gateway stops). */
  cutAll(reason: string): void {
    for (const r of [...this.open]) r.cut(reason);
    this.open.clear();
  }
}
