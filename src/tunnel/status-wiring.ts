// Placeholder until the status socket lands: replaced by the real wiring at merge.
import type { Plane } from '../tun/plane.js';
import type { TunnelConfig } from '../tunconfig/index.js';
import type { TunnelLog } from './log.js';
import type { RunningMode, Undo } from './mode.js';

export async function statusServerFor(_cfg: TunnelConfig, _dev: string, _plane: Plane, _running: RunningMode, _log: TunnelLog): Promise<Undo> {
  return () => undefined;
}
