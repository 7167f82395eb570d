// One address family's half of the pool: which addresses are taken and by
// whom. Fresh addresses come from a cursor moving up through the range (so a
// /8 is never enumerated); addresses given back are reused only once the
// cursor has passed the end, so a released address stays with its last
// owner for as long as possible.
import type { PoolRange } from './pool-range.js';

export class FamilyPool {
  private readonly owner = new Map<bigint, string>();
  private cursor: bigint;
  /** addresses given back (reclaimed from old identities), oldest first */
  private readonly freed: bigint[] = [];

  constructor(readonly range: PoolRange) {
    this.cursor = range.first;
  }

  contains(v: bigint): boolean {
    return v >= this.range.first && v <= this.range.last;
  }

  ownerOf(v: bigint): string | undefined {
    return this.owner.get(v);
  }

  take(v: bigint, identity: string): void {
    this.owner.set(v, identity);
  }

  giveBack(v: bigint): void {
    if (this.owner.delete(v)) this.freed.push(v);
  }

  /** An address nobody holds, or undefined when every one is held. */
  free(): bigint | undefined {
    // the cursor skips each held address once: bounded by the number held
    while (this.cursor <= this.range.last) {
      const v = this.cursor++;
      if (!this.owner.has(v)) return v;
    }
    while (this.freed.length > 0) {
      const v = this.freed.shift()!;
      if (!this.owner.has(v)) return v;
    }
    return undefined;
  }
}
