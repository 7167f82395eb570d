// One structured log line per forwarded connection, written when it ends:
// who (from the certificate), from where, to what, bytes each way, how long,
// and why it ended. Field names are fixed; docs/PROTOCOL.md §5.6 lists them.
import { scopedName, type Identity } from '../pki/identity.js';
import type { SpliceResult } from '../forward/splice.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** `who` is scoped: "alice" for the root's alice, "alice@branch" for the one site CA branch issued. */
export function who(identity: Identity): { who: string; role: string; site?: string; groups?: string[] } {
  return {
    who: scopedName(identity),
    role: identity.role,
    ...(identity.site === undefined ? {} : { site: identity.site }),
    ...(identity.groups.length === 0 ? {} : { groups: identity.groups }),
  };
}

export interface ConnFacts {
  identity: Identity;
  /** the client's address (the TLS peer), or for remote forwards the connecting peer */
  from: string;
  /** what was asked for, host:port */
  to: string;
  /** where traffic went, address:port */
  address?: string;
  kind: 'connect' | 'http1-connect' | 'http1-proxy' | 'remote' | 'ftp-data' | 'relay' | 'relay-in';
  started: number;
}

export function logEnd(log: Logger, facts: ConnFacts, r: SpliceResult): void {
  const { identity, started, ...rest } = facts;
  log.info({ ...who(identity), ...rest, up: r.up, down: r.down, ms: Date.now() - started, end: r.end }, 'connection');
}

export function logDenied(log: Logger, facts: Omit<ConnFacts, 'started'> & { started?: number }, code: string, reason: string): void {
  const { identity, started: _started, ...rest } = facts;
  log.warn({ ...who(identity), ...rest, code, reason }, 'denied');
}
