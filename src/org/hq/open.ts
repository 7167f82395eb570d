// Opening an HQ directory: hq.toml and the registry it names (migrations
// run on open). Shared by `insel hq run` and the admin commands.
import type { Logger } from 'pino';
import { openRegistry } from '../../store/registry.js';
import { loadHqConfig, type HqConfig } from './config.js';
import type { HqContext } from './context.js';
import { pkiDirOf } from './org-pki.js';

export async function openHq(dir: string, log: Logger): Promise<{ config: HqConfig; ctx: HqContext }> {
  const config = loadHqConfig(dir);
  const registry = await openRegistry({ database: config.database, dir: config.dir });
  const ctx: HqContext = { registry, org: config.org, pkiDir: pkiDirOf(config.dir), heartbeatMs: config.heartbeatMs, log, now: () => new Date() };
  return { config, ctx };
}
