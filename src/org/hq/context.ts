// What every HQ handler and admin command works with: the registry (the
// only state, so several HQs on one PostgreSQL act as one), the PKI
// directory, the org's name, the heartbeat interval, a log and a clock.
import type { Logger } from 'pino';
import type { Registry } from '../../store/types.js';

export interface HqContext {
  registry: Registry;
  org: string;
  pkiDir: string;
  heartbeatMs: number;
  log: Logger;
  now(): Date;
}

/** Settings keys in the registry: the CRL bundle and the trust bundle every member gets. */
export const SETTING_CRL = 'crl';
export const SETTING_CA = 'ca';

/** Kinds of changes published between HQ processes (registry.publish). */
export const CHANGE_REVOKED = 'revoked';
export const CHANGE_TRUST = 'trust';
export const CHANGE_SERVICES = 'services';
/** a call rings (org/call/hq-calls.ts): subject = the `call` event as JSON, pushed by every HQ to its gateways */
export const CHANGE_CALL = 'call';
