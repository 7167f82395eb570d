// What each mode (static, server, client) gives the daemon: a ticker, a
// clean shutdown, its peers for status, and (server) a reload.
import type { Clock } from '../secsock/clock.js';
import type { Plane } from '../tun/plane.js';
import type { TunnelConfig } from '../tunconfig/index.js';
import type { TunnelLog } from './log.js';

export interface PeerView {
  id: number;
  identity: string;
  /** "host:port" of its data path, or "tcp" */
  real: string;
  rung: 'udp' | 'tcp' | 'http-proxy' | '-';
  rungWhy?: string;
  v4?: string;
  v6?: string;
  /** when its keys were agreed (ISO) */
  since?: string;
}

export interface RunningMode {
  tick(): void;
  /** tells the peers we leave (CLOSE), then stops */
  shutdown(reason: string): Promise<void>;
  peers(): PeerView[];
  /** the data path's MTU if the mode tracks it (client: PMTU) */
  mtu?(): number;
  reload?(): void;
}

/** Undo steps, run in reverse at stop (routes, NAT, sockets, the device). */
export type Undo = () => Promise<void> | void;

export interface ModeContext {
  cfg: TunnelConfig;
  plane: Plane;
  /** the tunnel device's name */
  device: string;
  udpPort: number;
  log: TunnelLog;
  clock: Clock;
  undo: Undo[];
}
