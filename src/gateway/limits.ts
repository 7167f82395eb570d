// Per-identity limits at the gateway: how many sessions, forwarded
// connections, remote listeners, DNS lookups in flight, UDP channels and UDP
// flows one certificate holder may hold at once, and how many bytes the
// gateway queues towards one session. A hostile but valid certificate then
// costs the gateway a bounded amount, whatever windows its client advertises.
//
// "One identity" is the certificate's name, not its serial: org, site (the
// issuer's scope), role and name. Two certificates of the same user (a new
// one issued before the old one expired, two laptops) share the limits.
import { z } from 'zod';
import { MAX_DATA_PAYLOAD } from '../mux/constants.js';
import { scopedName, type Identity } from '../pki/identity.js';

export type LimitKind = 'sessions' | 'streams' | 'listeners' | 'lookups' | 'udpChannels' | 'udpFlows';

export interface Limits extends Record<LimitKind, number> {
  /** bytes one session may make the gateway hold each way: queued towards the client (its mux's maxQueuedPerSession) and received from it (maxBufferedPerSession, at least streamsPerSession initial windows) */
  queuedBytesPerSession: number;
  /** streams open at once in one session (its mux's maxStreams); an OPEN beyond is reset with REFUSED and the reason */
  streamsPerSession: number;
  /** stream OPENs per second in one session (its mux's token bucket); an OPEN beyond is reset with REFUSED and the reason */
  opensPerSecond: number;
}

/** The [limits] key of each limit: refusals name it, so an admin knows what to raise. */
export const LIMIT_KEYS: Record<keyof Limits, string> = {
  sessions: 'sessions_per_identity',
  streams: 'streams_per_identity',
  listeners: 'listeners_per_identity',
  lookups: 'lookups_per_identity',
  udpChannels: 'udp_channels_per_identity',
  udpFlows: 'udp_flows_per_identity',
  queuedBytesPerSession: 'queued_bytes_per_session',
  streamsPerSession: 'streams_per_session',
  opensPerSecond: 'opens_per_second',
};

export const DEFAULT_LIMITS: Limits = {
  sessions: 8,
  streams: 1024,
  listeners: 64,
  lookups: 8,
  udpChannels: 16,
  udpFlows: 4096,
  queuedBytesPerSession: 4 << 20,
  streamsPerSession: 1024,
  // Far above what a person or a script opening connections one after another does; bounds a flood of OPENs.
  opensPerSecond: 5000,
};

const WHAT: Record<LimitKind, string> = {
  sessions: 'sessions',
  streams: 'open forwarded connections',
  listeners: 'remote listeners',
  lookups: 'DNS lookups in flight',
  udpChannels: 'UDP channels',
  udpFlows: 'UDP flows',
};

const count = (key: string) => z.number({ error: `must be a whole number, e.g. ${key} = 16` }).int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' });

/** The per-identity keys of the gateway config's [limits] table (all optional). */
export const perIdentityLimitsShape = {
  sessions_per_identity: count('sessions_per_identity').optional(),
  streams_per_identity: count('streams_per_identity').optional(),
  listeners_per_identity: count('listeners_per_identity').optional(),
  lookups_per_identity: count('lookups_per_identity').optional(),
  udp_channels_per_identity: count('udp_channels_per_identity').optional(),
  udp_flows_per_identity: count('udp_flows_per_identity').optional(),
  // The mux's send limit must hold one DATA frame of the largest size a peer may send (its resolveLimits refuses less).
  queued_bytes_per_session: z
    .number({ error: 'must be a number of bytes, e.g. queued_bytes_per_session = 4194304 (4 MiB)' })
    .int({ error: 'must be a whole number of bytes' })
    .min(MAX_DATA_PAYLOAD, { error: `must be at least ${MAX_DATA_PAYLOAD} (${MAX_DATA_PAYLOAD / 1024} KiB, one mux frame)` })
    .optional(),
  streams_per_session: count('streams_per_session').optional(),
  opens_per_second: count('opens_per_second').optional(),
};

type RawLimits = { [K in keyof typeof perIdentityLimitsShape]?: number };

/** The checked [limits] keys with defaults filled in. */
export function limitsFromConfig(raw: RawLimits | undefined): Limits {
  const out = { ...DEFAULT_LIMITS };
  for (const [field, key] of Object.entries(LIMIT_KEYS) as [keyof Limits, string][]) {
    const v = raw?.[key as keyof RawLimits];
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/** Serial-independent: org, site, role and the issuer-scoped name (a site CA's alice is not the root's alice). */
export function identityKey(id: Identity): string {
  return `${id.org}\n${id.site ?? ''}\n${id.role}/${scopedName(id)}`;
}

export type Admission = { ok: true; release(): void } | LimitRefusal;

export interface LimitRefusal {
  ok: false;
  status: 429;
  code: 'INSEL_LIMIT';
  reason: string;
}

/** Counts what each identity holds; `limits()` is read at every take, so a reload applies to new requests at once. */
export class IdentityLimits {
  private readonly held = new Map<string, Record<LimitKind, number>>();

  constructor(private readonly limits: () => Limits) {}

  /** One more `kind` for `identity`, or the refusal naming the limit and its config key. Release exactly once. */
  take(identity: Identity, kind: LimitKind): Admission {
    const key = identityKey(identity);
    const max = this.limits()[kind];
    let h = this.held.get(key);
    if ((h?.[kind] ?? 0) >= max) {
      const site = identity.site === undefined ? '' : ` of site ${identity.site}`;
      return {
        ok: false,
        status: 429,
        code: 'INSEL_LIMIT',
        reason: `too many ${WHAT[kind]} for ${identity.role} ${scopedName(identity)}${site}: the gateway allows ${max} at once ([limits] ${LIMIT_KEYS[kind]} in the gateway config); close some, or ask the gateway admin to raise it`,
      };
    }
    if (h === undefined) this.held.set(key, (h = { sessions: 0, streams: 0, listeners: 0, lookups: 0, udpChannels: 0, udpFlows: 0 }));
    const rec = h;
    rec[kind]++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        rec[kind]--;
        if (Object.values(rec).every((n) => n === 0)) this.held.delete(key);
      },
    };
  }

  /** What `identity` holds now (for stats and tests). */
  heldBy(identity: Identity): Record<LimitKind, number> {
    return { sessions: 0, streams: 0, listeners: 0, lookups: 0, udpChannels: 0, udpFlows: 0, ...this.held.get(identityKey(identity)) };
  }
}
