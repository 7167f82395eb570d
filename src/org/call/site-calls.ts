// A site gateway's side of calls (docs/PROTOCOL.md §7.4):
//   - invitations: HQ's `call` events for this site's users, held until
//     answered or RING_MS old, handed to the callee's agents (JSON lines);
//   - the meeting point: at the callee's site the caller's leg (a relay flow
//     with HQ's ticket) and the callee's leg (its own flow, no ticket) are
//     joined; each leg's datagrams go to the other. Either leg ending ends
//     the call, and the other leg gets a CLOSE with the reason.
// Bounds: invitations per callee and in all, agents per user, calls in all.
import type { FlowLog } from '../../udpflow/gateway.js';
import type { TargetEvents, TargetVerdict } from '../../udpflow/target.js';
import type { HqApi, OrgEventMessage, OrgUser } from '../wire/hq-api.js';
import type { CallLegs } from '../site/udp-relay.js';
import { RING_MS } from './hq-calls.js';
import { CallError } from './errors.js';

/** One line of an agent's stream (GET /insel/v1/calls). */
export interface Invitation {
  type: 'call';
  callId: string;
  from: string;
  expiresAt: string;
}

/** Where an agent's lines go: false when it cannot take more (then it is closed). */
export interface AgentSink {
  send(inv: Invitation): boolean;
  close(reason: string): void;
}

export const MAX_INVITES_PER_USER = 16;
export const MAX_AGENTS_PER_USER = 4;
export const MAX_CALLS = 4096;
const SWEEP_MS = 1_000;

interface Leg {
  readonly events: TargetEvents;
  readonly who: string;
}

interface Call {
  readonly id: string;
  /** caller "alice@site-a"; empty until known (the caller's leg may come before HQ's event) */
  from: string;
  /** callee name at this site; empty until HQ's event */
  to: string;
  expires: number;
  caller: Leg | undefined;
  callee: Leg | undefined;
  /** datagrams that found no other leg yet */
  dropped: number;
}

export interface SiteCallsOptions {
  site: string;
  /** insel-org/1 `call` (HqApi.callUser) */
  hq: Pick<HqApi, 'callUser'>;
  log: FlowLog;
  now?: () => number;
}

export class SiteCalls implements CallLegs {
  private readonly calls = new Map<string, Call>();
  private readonly agents = new Map<string, Set<AgentSink>>();
  private readonly ticker: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly opts: SiteCallsOptions) {
    this.now = opts.now ?? Date.now;
    this.ticker = setInterval(() => this.sweep(), SWEEP_MS);
    this.ticker.unref();
  }

  close(): void {
    clearInterval(this.ticker);
    for (const c of [...this.calls.values()]) this.end(c, undefined, 'the site gateway is shutting down');
    for (const set of this.agents.values()) for (const a of set) a.close('the site gateway is shutting down');
    this.agents.clear();
  }

  /** POST /insel/v1/call: `user` of this site invites `to` (name@site) through HQ. */
  invite(user: OrgUser, to: string): Promise<{ callId: string; expiresAt: string }> {
    this.mine(user);
    if (this.opts.hq.callUser === undefined) return Promise.reject(new CallError('INSEL_CALL_SITE_DOWN', `site ${this.opts.site}'s link to HQ takes no calls`));
    return this.opts.hq.callUser(user, to);
  }

  /** HQ's events: a `call` for one of this site's users is held and handed to its agents. */
  onEvent(e: OrgEventMessage): void {
    if (e.kind !== 'call') return;
    const at = e.to.lastIndexOf('@');
    if (at < 0 || e.to.slice(at + 1) !== this.opts.site) return;
    const to = e.to.slice(0, at);
    this.sweep();
    let c = this.calls.get(e.callId);
    if (c === undefined) {
      const ringing = [...this.calls.values()].filter((x) => x.to === to && x.callee === undefined).length;
      if (ringing >= MAX_INVITES_PER_USER || this.calls.size >= MAX_CALLS) {
        this.opts.log.warn({ user: e.to, from: e.from, call: e.callId, reason: 'too many invitations ringing' }, 'call invitation dropped');
        return;
      }
      c = this.fresh(e.callId);
    } else if (c.from !== '' && c.from !== e.from) {
      return; // a caller's leg claimed this id for someone else: HQ's ids are random, so this is not HQ's call
    }
    c.from = e.from;
    c.to = to;
    const inv = invitation(c);
    for (const a of this.agents.get(to) ?? []) if (!a.send(inv)) a.close('agent does not read its invitations');
  }

  /** GET /insel/v1/calls: `user`'s agent gets the invitations ringing now, then each new one. Returns its removal. */
  addAgent(user: OrgUser, sink: AgentSink): () => void {
    this.mine(user);
    let set = this.agents.get(user.name);
    if (set === undefined) this.agents.set(user.name, (set = new Set()));
    if (set.size >= MAX_AGENTS_PER_USER) throw new CallError('INSEL_CALL_LIMIT', `${user.name}@${user.site} has ${set.size} agents connected already (limit ${MAX_AGENTS_PER_USER})`);
    set.add(sink);
    this.sweep();
    for (const c of this.calls.values()) if (c.to === user.name && c.callee === undefined) sink.send(invitation(c));
    return () => {
      set.delete(sink);
      if (set.size === 0 && this.agents.get(user.name) === set) this.agents.delete(user.name);
    };
  }

  /** POST /insel/v1/answer: whether `user` may answer `callId` now; throws the refusal. */
  answer(user: OrgUser, callId: string): { from: string } {
    this.mine(user);
    const c = this.ringingFor(callId, user);
    return { from: c.from };
  }

  isCallee(callId: string, user: OrgUser): boolean {
    const c = this.calls.get(callId);
    return c !== undefined && user.site === this.opts.site && c.to === user.name;
  }

  callee(callId: string, user: OrgUser, events: TargetEvents): TargetVerdict {
    let c;
    try {
      c = this.ringingFor(callId, user);
    } catch (err) {
      return { allow: false, reason: (err as Error).message };
    }
    c.callee = { events, who: `${user.name}@${user.site}` };
    this.opts.log.info({ call: c.id, from: c.from, to: c.callee.who }, 'call answered');
    return this.leg(c, 'callee');
  }

  caller(callId: string, user: OrgUser, fromSite: string, events: TargetEvents): TargetVerdict {
    const who = `${user.name}@${user.site}`;
    if (user.site !== fromSite) return { allow: false, reason: `${who} cannot call through site ${fromSite}` };
    this.sweep();
    // HQ's ticket vouches for the caller; HQ's event (who is called) may still be on its way.
    let c = this.calls.get(callId);
    if (c === undefined) {
      if (this.calls.size >= MAX_CALLS) return { allow: false, reason: `site ${this.opts.site} has too many calls (limit ${MAX_CALLS})` };
      c = this.fresh(callId);
      c.from = who;
    }
    if (c.from !== who) return { allow: false, reason: `${who} is not the caller of call ${callId}` };
    if (c.caller !== undefined) return { allow: false, reason: `call ${callId} has its caller already` };
    c.caller = { events, who };
    return this.leg(c, 'caller');
  }

  get size(): number {
    return this.calls.size;
  }

  /** The call `user` may answer: ringing, for them, not answered yet. */
  private ringingFor(callId: string, user: OrgUser): Call {
    this.sweep();
    const c = this.calls.get(callId);
    if (c === undefined || c.to === '') throw new CallError('INSEL_CALL_UNKNOWN', `no call ${callId} is ringing at site ${this.opts.site}`);
    if (user.site !== this.opts.site || c.to !== user.name) throw new CallError('INSEL_CALL_DENIED', `call ${callId} is not for ${user.name}@${user.site}`);
    if (c.callee !== undefined) throw new CallError('INSEL_CALL_DENIED', `call ${callId} is answered already`);
    return c;
  }

  /** The flow target of one leg: its datagrams go to the other leg; its end ends the call. */
  private leg(c: Call, side: 'caller' | 'callee'): TargetVerdict {
    const other = side === 'caller' ? () => c.callee : () => c.caller;
    return {
      allow: true,
      address: `call ${c.id}`,
      target: {
        send: (d) => {
          const o = other();
          if (o === undefined) c.dropped++;
          else o.events.message(d);
        },
        close: () => {
          const me = c[side];
          if (me === undefined) return;
          c[side] = undefined;
          this.end(c, other(), `${me.who} left the call`);
        },
      },
    };
  }

  /** Ends a call once: `other` (the leg still there) is told why. */
  private end(c: Call, other: Leg | undefined, reason: string): void {
    if (this.calls.get(c.id) !== c) return;
    this.calls.delete(c.id);
    c.caller = undefined;
    c.callee = undefined;
    other?.events.ended(reason);
    this.opts.log.info({ call: c.id, from: c.from, to: c.to, reason, droppedBeforeJoin: c.dropped }, 'call ended');
  }

  private fresh(id: string): Call {
    const c: Call = { id, from: '', to: '', expires: this.now() + RING_MS, caller: undefined, callee: undefined, dropped: 0 };
    this.calls.set(id, c);
    return c;
  }

  /** Calls not answered within RING_MS end (the caller's leg, if any, is told). */
  private sweep(): void {
    const now = this.now();
    for (const c of [...this.calls.values()]) {
      if (c.callee === undefined && c.expires <= now) this.end(c, c.caller, `call not answered within ${RING_MS / 1000} s`);
    }
  }

  private mine(user: OrgUser): void {
    if (user.site !== this.opts.site) throw new CallError('INSEL_CALL_DENIED', `${user.name}@${user.site} is not a user of site ${this.opts.site}`);
  }
}

function invitation(c: Call): Invitation {
  return { type: 'call', callId: c.id, from: c.from, expiresAt: new Date(c.expires).toISOString() };
}
