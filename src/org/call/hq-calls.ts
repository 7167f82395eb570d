// HQ's side of calls (seed 000 §6, docs/PROTOCOL.md §7.4): the `call`
// request of insel-org/1 and the authorization of a caller's media flow.
//
//   site A: call {from: alice, to: "bob@b"} ──▶ HQ: bob exists, is active, at b;
//           alice has < MAX_PENDING_PER_CALLER calls ringing → callId;
//           event {kind: call, callId, from: "alice@a", to: "bob@b", fromSite: a, service: "call:<id>"}
//           pushed to the gateways (site b delivers it to bob's agents)
//   site A: authorize {user: alice, service: "call:<id>"} ──▶ only the caller, only
//           while the call rings (RING_MS) → a ticket for site b, like a service's
//
// Calls are held in this HQ process's memory only (bounded): the media path
// never passes HQ, and a call outlives HQ once its legs are joined. With
// several HQs, `call` and the caller's `authorize` go over the same site
// link, so to the same HQ.
import { randomBytes } from 'node:crypto';
import type { Registry } from '../../store/types.js';
import type { Authorization, OrgEventMessage, OrgUser, SiteAddress } from '../wire/hq-api.js';
import { CallError } from './errors.js';

/** How long an invitation rings (and the caller's media flow may be authorized). */
export const RING_MS = 60_000;
/** Calls one user may have ringing at once: a flood of invitations stops here. */
export const MAX_PENDING_PER_CALLER = 4;
/** Calls ringing in all: bounds HQ's memory whatever the sites send. */
export const MAX_PENDING = 10_000;
/** "call:" + 26 base32 characters (128 bits): also a valid OPEN_SERVICE name. */
const ID_BYTES = 16;

export interface HqCallDeps {
  /** the callee as the registry knows it; undefined: no such user */
  user(name: string): Promise<{ name: string; site: string; status: 'active' | 'revoked' } | undefined>;
  /** where the callee's site takes UDP relays; undefined: unknown or offline */
  site(name: string): Promise<SiteAddress | undefined>;
  /** a single-use ticket for `user`'s flow to `service` at `targetSite`, as HQ's authorize makes them */
  mintTicket(user: OrgUser, service: string, targetSite: string): Promise<string>;
  /** to every subscribed gateway */
  push(e: OrgEventMessage): void;
  now?: () => number;
}

/** HqCallDeps' lookups from the registry: users as they are, sites only while online. */
export function registryLookups(registry: Pick<Registry, 'user' | 'site'>): Pick<HqCallDeps, 'user' | 'site'> {
  return {
    user: (name) => registry.user(name),
    site: async (name) => {
      const s = await registry.site(name);
      if (s?.status !== 'online' || s.public === null) return undefined;
      return { name: s.name, public: s.public, ...(s.udp === null ? {} : { udp: s.udp }) };
    },
  };
}

interface Ringing {
  readonly id: string;
  readonly caller: OrgUser;
  readonly callee: { name: string; site: string };
  readonly expires: number;
}

export class HqCalls {
  private readonly calls = new Map<string, Ringing>();
  private readonly now: () => number;

  constructor(private readonly deps: HqCallDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The `call` request of site `fromSite` (the link's verified name) for its user `from`. */
  async call(fromSite: string, from: OrgUser, to: string): Promise<{ callId: string; expiresAt: string }> {
    const [name, site] = splitUser(to);
    await this.caller(fromSite, from);
    this.sweep();
    const pending = [...this.calls.values()].filter((c) => c.caller.name === from.name && c.caller.site === from.site).length;
    if (pending >= MAX_PENDING_PER_CALLER) throw new CallError('INSEL_CALL_LIMIT', `${from.name}@${from.site} has ${pending} calls ringing already (limit ${MAX_PENDING_PER_CALLER}); wait for an answer or ${RING_MS / 1000} s`);
    if (this.calls.size >= MAX_PENDING) throw new CallError('INSEL_CALL_LIMIT', `HQ has ${MAX_PENDING} calls ringing; try again later`);
    const callee = await this.deps.user(name);
    if (callee === undefined || callee.site !== site) throw new CallError('INSEL_CALL_UNKNOWN_USER', `no user ${to} in the organization`);
    if (callee.status !== 'active') throw new CallError('INSEL_CALL_UNKNOWN_USER', `${to} is revoked`);
    if ((await this.deps.site(site))?.udp === undefined) throw new CallError('INSEL_CALL_SITE_DOWN', `site ${site} is offline or takes no UDP relays (no udp_listen)`);
    const id = base32(randomBytes(ID_BYTES));
    const expires = this.now() + RING_MS;
    this.calls.set(id, { id, caller: from, callee: { name, site }, expires });
    this.deps.push({ kind: 'call', callId: id, from: `${from.name}@${from.site}`, to, fromSite, service: `call:${id}` });
    return { callId: id, expiresAt: new Date(expires).toISOString() };
  }

  /** HQ's authorize for "call:<id>": only the caller, while the call rings; the ticket takes the flow to the callee's site. */
  async authorize(fromSite: string, user: OrgUser, service: string): Promise<Authorization> {
    this.sweep();
    const c = this.calls.get(service.slice('call:'.length));
    if (c === undefined || !service.startsWith('call:')) throw new CallError('INSEL_CALL_UNKNOWN', `no call ${service} is ringing (unknown, or older than ${RING_MS / 1000} s)`);
    if (c.caller.name !== user.name || c.caller.site !== user.site) throw new CallError('INSEL_CALL_DENIED', `${user.name}@${user.site} is not the caller of ${service}`);
    await this.caller(fromSite, user);
    const site = await this.deps.site(c.callee.site);
    if (site?.udp === undefined) throw new CallError('INSEL_CALL_SITE_DOWN', `site ${c.callee.site} is offline or takes no UDP relays`);
    const ticket = await this.deps.mintTicket(user, service, c.callee.site);
    return { ticket, site, service: { name: service, proto: 'udp' } };
  }

  get ringing(): number {
    return this.calls.size;
  }

  /** The registry's word on a caller: active, and of the site that speaks for it. */
  private async caller(fromSite: string, user: OrgUser): Promise<void> {
    const u = await this.deps.user(user.name);
    if (user.site !== fromSite || u === undefined || u.site !== fromSite) throw new CallError('INSEL_CALL_DENIED', `site ${fromSite} cannot call for ${user.name}@${user.site}`);
    if (u.status !== 'active') throw new CallError('INSEL_CALL_DENIED', `${user.name}@${user.site} is revoked`);
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, c] of this.calls) if (c.expires <= now) this.calls.delete(id);
  }
}

/** "bob@site-b" → ["bob", "site-b"]. */
export function splitUser(text: string): [string, string] {
  const m = /^([A-Za-z0-9._-]{1,64})@([A-Za-z0-9._-]{1,64})$/.exec(text);
  if (m === null) throw new CallError('INSEL_CALL_BAD_REQUEST', `${JSON.stringify(text.slice(0, 140))} is not a user: write name@site, e.g. bob@branch`);
  return [m[1]!, m[2]!];
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Buffer): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}
