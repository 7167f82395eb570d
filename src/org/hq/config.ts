// hq.toml, HQ's config (docs/PROTOCOL.md §7.6): the org's name, where HQ listens,
// which database holds the registry, the heartbeat interval sites are told
// to keep, and the [limits] on connections not yet authenticated (the same
// keys as the gateway's). An optional [site] table names the site gateway
// HQ runs for its own LAN; its other keys belong to the site config and are
// kept as written for it. Every error names the file, the key and the fix.
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { durationField, durationString } from '../../config/duration.js';
import { zodConfigError } from '../../config/errors.js';
import { asConfig, parseToml, readConfigFile } from '../../config/toml.js';
import { unauthLimits, unauthLimitsShape } from '../../gateway/config.js';
import { parseHostPort, type HostPort } from '../../net/host-port.js';
import type { UnauthLimits } from '../../net/unauth-gate.js';
import { isValidName, isValidOrg } from '../../pki/identity.js';

export const HQ_CONFIG = 'hq.toml';
export const DEFAULT_HQ_PORT = 7443;
export const DEFAULT_HEARTBEAT_MS = 5000;

export interface HqConfig {
  file: string;
  /** HQ's directory: hq.toml, pki/, hq.db */
  dir: string;
  org: string;
  listen: HostPort;
  /** "sqlite" (DIR/hq.db) or a postgres:// URL */
  database: string;
  heartbeatMs: number;
  unauth: UnauthLimits;
  /** HQ's own LAN's site gateway, if any: its name and the rest of its table as written */
  site?: { name: string } & Record<string, unknown>;
}

const schema = z
  .object({
    org: z.string({ error: 'must be a string, e.g. org = "Example Corp"' }).refine(isValidOrg, { error: 'must be 1-64 characters without control characters' }),
    listen: z.string({ error: 'must be a string, e.g. listen = "0.0.0.0:7443"' }).optional(),
    database: z
      .string({ error: 'must be a string: "sqlite" or "postgres://user@host/db"' })
      .refine((d) => d === 'sqlite' || /^postgres(ql)?:\/\//.test(d), { error: 'use "sqlite" (DIR/hq.db) or a PostgreSQL URL "postgres://user:password@host:5432/db"' })
      .optional(),
    heartbeat: durationString('5s').optional(),
    limits: z.object(unauthLimitsShape, { error: 'must be a [limits] table' }).strict().optional(),
    site: z.looseObject({ name: z.string({ error: 'must be the site name, e.g. name = "hq-lan"' }).refine(isValidName, { error: 'use 1-64 characters of A-Z a-z 0-9 . _ -' }) }, { error: 'must be a [site] table' }).optional(),
  })
  .strict();

const HINTS: Record<string, string> = {
  '': 'known keys: org, listen, database, heartbeat, [limits], [site]',
  limits: `known keys: ${Object.keys(unauthLimitsShape).join(', ')}`,
  listen: 'e.g. listen = "0.0.0.0:7443"',
  heartbeat: 'e.g. heartbeat = "5s"',
};

export function hqConfigFromText(text: string, file: string): HqConfig {
  const abs = resolve(file);
  const raw = parseToml(text, abs);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw zodConfigError(abs, parsed.error.issues, raw, HINTS);
  const c = parsed.data;
  return {
    file: abs,
    dir: resolve(abs, '..'),
    org: c.org,
    listen: asConfig(abs, 'listen', () => parseHostPort(c.listen ?? `0.0.0.0:${DEFAULT_HQ_PORT}`, `${abs}: listen`, { allowPortZero: true })),
    database: c.database ?? 'sqlite',
    heartbeatMs: durationField(abs, 'heartbeat', c.heartbeat, DEFAULT_HEARTBEAT_MS),
    unauth: unauthLimits(abs, c.limits),
    ...(c.site === undefined ? {} : { site: c.site as HqConfig['site'] & object }),
  };
}

/** DIR/hq.toml, checked. Throws ConfigError naming file, key and fix. */
export function loadHqConfig(dir: string): HqConfig {
  const file = join(resolve(dir), HQ_CONFIG);
  return hqConfigFromText(readConfigFile(file, 'HQ config'), file);
}

/** The hq.toml `insel hq init` writes. */
export function starterHqConfig(org: string, listen: string, database: string): string {
  return [
    '# HQ of the organization (insel hq run --dir DIR); see docs/PROTOCOL.md §7.6',
    `org = ${JSON.stringify(org)}`,
    `# HQ's TLS port (insel-org/1 for sites, insel-enroll/1 for enrollment codes)`,
    `listen = ${JSON.stringify(listen)}`,
    '# "sqlite" (DIR/hq.db) or "postgres://user:password@host:5432/db" (several HQs may share it)',
    `database = ${JSON.stringify(database)}`,
    '# how often sites report in; a site silent for 3 intervals is offline',
    'heartbeat = "5s"',
    '',
    '# [limits]  # connections not yet authenticated, as for the gateway',
    '# unauthenticated_per_source = 16',
    '# unauthenticated_total = 128',
    '# handshake_timeout = "10s"',
    '',
  ].join('\n');
}
