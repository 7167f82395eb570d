// The daemon's status outputs: the control socket (always) and the `status
// FILE` (if configured), both fed by one snapshot of the running mode.
import type { Plane } from '../../tun/plane.js';
import type { TunnelConfig } from '../../tunconfig/index.js';
import type { TunnelLog } from '../log.js';
import type { RunningMode, Undo } from '../mode.js';
import { StatusFileWriter } from './status-file.js';
import { buildSnapshot, type StatusSnapshot } from './status-snapshot.js';
import { StatusServer } from './status-socket.js';

export async function statusServerFor(cfg: TunnelConfig, dev: string, plane: Plane, running: RunningMode, log: TunnelLog): Promise<Undo> {
  const snapshot = (): StatusSnapshot =>
    buildSnapshot({
      mode: cfg.mode,
      device: dev,
      transport: { proto: cfg.proto, udpPort: cfg.port, tcpPort: cfg.tcpPort },
      mtu: running.mtu?.() ?? cfg.tunMtu,
      peers: running.peers(),
      stats: (id) => plane.stats(id),
    });
  const server = await StatusServer.listen(cfg.statusSocket, snapshot);
  const file = cfg.status === undefined ? undefined : new StatusFileWriter(cfg.status.file, cfg.status.seconds * 1000, snapshot, (m) => log.warn(m));
  return async () => {
    file?.close();
    await server.close();
  };
}
