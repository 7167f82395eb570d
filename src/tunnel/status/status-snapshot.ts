// What `insel status` shows: the daemon's state at one moment, built from
// the running mode's peers and the plane's counters. The same object is the
// status socket's JSON reply and, as text, the `status FILE` content.
import type { PlaneStats } from '../../tun/plane.js';
import type { PeerView } from '../mode.js';

export type Rung = PeerView['rung'];

export interface ClientStatus {
  /** the peer's certificate identity (server), the server's name (client), or "static-key peer" */
  identity: string;
  /** its tunnel addresses */
  virtual: { v4?: string; v6?: string };
  /** "host:port" of its UDP path, "tcp", or "-" before the first datagram */
  real: string;
  rung: Rung;
  /** why the client is on this rung (client side), e.g. "no UDP reply within 3 s" */
  rungWhy?: string;
  mtu: number;
  bytesIn: number;
  bytesOut: number;
  /** when the current session's keys were agreed (ISO 8601), if known */
  lastHandshake?: string;
  /** the send key epoch (mod 256), -1 before keys */
  keyEpoch: number;
}

export interface StatusSnapshot {
  /** format version of this object */
  v: 1;
  /** when it was taken (ISO 8601) */
  time: string;
  mode: 'static' | 'server' | 'client';
  device: string;
  transport: { proto: 'udp' | 'tcp'; udpPort: number; tcpPort: number };
  clients: ClientStatus[];
}

export interface SnapshotInput {
  mode: StatusSnapshot['mode'];
  device: string;
  transport: StatusSnapshot['transport'];
  mtu: number;
  peers: readonly PeerView[];
  stats: (peerId: number) => PlaneStats | undefined;
  now?: Date;
}

export function buildSnapshot(i: SnapshotInput): StatusSnapshot {
  return {
    v: 1,
    time: (i.now ?? new Date()).toISOString(),
    mode: i.mode,
    device: i.device,
    transport: i.transport,
    clients: i.peers.map((p) => {
      const st = i.stats(p.id);
      return {
        identity: p.identity,
        virtual: { ...(p.v4 === undefined ? {} : { v4: p.v4 }), ...(p.v6 === undefined ? {} : { v6: p.v6 }) },
        real: p.real,
        rung: p.rung,
        ...(p.rungWhy === undefined ? {} : { rungWhy: p.rungWhy }),
        mtu: i.mtu,
        bytesIn: st?.rxBytes ?? 0,
        bytesOut: st?.txBytes ?? 0,
        ...(p.since === undefined ? {} : { lastHandshake: p.since }),
        keyEpoch: st?.sendEpoch ?? -1,
      };
    }),
  };
}

/** Whether `x` looks like a StatusSnapshot (what readStatus accepts from a socket). */
export function isStatusSnapshot(x: unknown): x is StatusSnapshot {
  const s = x as StatusSnapshot;
  return typeof s === 'object' && s !== null && s.v === 1 && typeof s.mode === 'string' && typeof s.device === 'string' && Array.isArray(s.clients);
}
