// What the relay handlers need from the running site gateway.
import type { Logger } from '../../gateway/conn-log.js';
import type { HqApi } from '../wire/hq-api.js';
import type { SiteConfig } from './config.js';
import type { SitePeers } from './peers.js';
import type { Relays } from './relays.js';

export interface SiteContext {
  /** this site's name (its certificate's) */
  readonly name: string;
  /** the config in force (reloads swap it) */
  readonly config: SiteConfig;
  readonly hq: HqApi;
  readonly peers: SitePeers;
  readonly relays: Relays;
  readonly log: Logger;
  /** Why certificate `serial` is refused under the gateway's current CRLs, or undefined (a relayed user's, known from HQ's ticket). */
  revoked(serial: string): string | undefined;
  /** One of the slots for requests waiting on HQ, or undefined when all are taken; release exactly once. */
  waitOnHq(): (() => void) | undefined;
}
