// site.toml: a site gateway's config (docs/PROTOCOL.md §7.3, §7.6). The keys of today's
// gateway config (listen, udp_listen, profile, [[allow]], [limits], [dns],
// log_level, …) mean what they mean there and are checked there
// (gateway/config.ts); the site adds its name, HQ's address, the address
// other sites dial, its services and its [[allow_service]] rules. The
// identity defaults to the profile dir DIR/identity (insel site enroll
// writes it).
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { configError, zodConfigError } from '../../config/errors.js';
import { asConfig, parseToml, readConfigFile } from '../../config/toml.js';
import { gatewayConfigFromRaw, type GatewayConfig } from '../../gateway/config.js';
import { isValidName } from '../../pki/identity.js';
import { parseHostPort, type HostPort } from '../../net/host-port.js';
import { ServiceRules } from './service-rules.js';

export const SITE_CONFIG_FILE = 'site.toml';
/** The site gateway's TLS port when site.toml names none. */
export const DEFAULT_SITE_LISTEN = '0.0.0.0:7444';

export interface SiteService {
  name: string;
  proto: 'tcp' | 'udp';
  /** where the site gateway connects: from this file only, never from a request */
  host: string;
  port: number;
  /** the groups HQ lets use it */
  groups: string[];
}

export interface RelayLimits {
  /** relays one user may have open at once at its site */
  relaysPerUser: number;
  /** requests waiting on HQ (authorize, ticket) at once, over all users */
  pendingAuthorizations: number;
  /** sessions to other sites' gateways kept open at once */
  siteSessions: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = { relaysPerUser: 64, pendingAuthorizations: 256, siteSessions: 64 };

export interface SiteConfig {
  file: string;
  name: string;
  hq: HostPort;
  /** host:port other sites dial; undefined: the listen address (with the bound port) */
  public: string | undefined;
  services: SiteService[];
  serviceRules: ServiceRules;
  relayLimits: RelayLimits;
  /** the gateway it runs: listen, identity, [[allow]] policy, limits */
  gateway: GatewayConfig;
}

const name = (example: string) => z.string({ error: `must be a string, e.g. "${example}"` }).refine(isValidName, { error: 'use 1-64 characters of A-Z a-z 0-9 . _ -' });
const limit = z.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(1_000_000, { error: 'must be at most 1000000' });

const serviceSchema = z
  .object({
    name: name('web'),
    proto: z.enum(['tcp', 'udp'], { error: 'use "tcp" or "udp"' }).optional(),
    host: z.string({ error: 'must be a host name or IP, e.g. "10.0.0.5"' }).min(1, { error: 'is empty' }),
    port: z.number({ error: 'must be a port number, e.g. 80' }).int().min(1, { error: 'ports are 1-65535' }).max(65535, { error: 'ports are 1-65535' }),
    groups: z.array(name('eng'), { error: 'must be a list of group names, e.g. groups = ["eng"]' }),
  })
  .strict();

/** The keys site.toml adds; the rest go to the gateway config's checks. */
const siteSchema = z.object({
  name: name('branch'),
  hq: z.string({ error: 'must be "host:port", e.g. "hq.example.com:7443"' }),
  public: z.string({ error: 'must be "host:port", e.g. "branch.example.com:7444"' }).optional(),
  service: z.array(serviceSchema, { error: 'must be a list of [[service]] tables' }).optional(),
  allow_service: z.array(z.unknown(), { error: 'must be a list of [[allow_service]] tables' }).optional(),
  relays: z
    .object({ relays_per_user: limit.optional(), pending_authorizations: limit.optional(), site_sessions: limit.optional() }, { error: 'must be a [relays] table' })
    .strict()
    .optional(),
});

const HINTS: Record<string, string> = {
  name: 'e.g. name = "branch" (the name HQ enrolled this site under)',
  hq: 'e.g. hq = "hq.example.com:7443"',
  service: 'a [[service]] has keys name, proto, host, port, groups',
  relays: 'known keys: relays_per_user, pending_authorizations, site_sessions',
};

/** The site config in `text` from `file`; relative paths resolve against its directory. */
export function siteConfigFromText(text: string, file: string): SiteConfig {
  const abs = resolve(file);
  return siteConfigFromRaw(parseToml(text, abs), abs);
}

/** The site config in the parsed table `raw` (HQ's [site] table, or site.toml) of file `abs`. */
export function siteConfigFromRaw(raw: Record<string, unknown>, abs: string): SiteConfig {
  const parsed = siteSchema.safeParse(raw);
  if (!parsed.success) throw zodConfigError(abs, parsed.error.issues, raw, HINTS);
  const c = parsed.data;
  const { name: _n, hq: _h, public: _p, service: _s, allow_service: _a, relays: _r, ...gatewayKeys } = raw;
  const gateway = gatewayConfigFromRaw({ listen: DEFAULT_SITE_LISTEN, ...(gatewayKeys.cert === undefined ? { profile: 'identity' } : {}), ...gatewayKeys }, abs);
  const services = (c.service ?? []).map((s) => ({ name: s.name, proto: s.proto ?? 'tcp', host: s.host, port: s.port, groups: s.groups }));
  const seen = new Set<string>();
  services.forEach((s, i) => {
    if (seen.has(s.name)) throw configError(abs, ['service', i, 'name'], `service ${s.name} is listed twice; names are unique in a site`);
    seen.add(s.name);
  });
  if (c.public !== undefined) asConfig(abs, 'public', () => parseHostPort(c.public!, `${abs}: public`));
  return {
    file: abs,
    name: c.name,
    hq: asConfig(abs, 'hq', () => parseHostPort(c.hq, `${abs}: hq`)),
    public: c.public,
    services,
    serviceRules: ServiceRules.fromRules(c.allow_service ?? [], abs),
    relayLimits: {
      relaysPerUser: c.relays?.relays_per_user ?? DEFAULT_RELAY_LIMITS.relaysPerUser,
      pendingAuthorizations: c.relays?.pending_authorizations ?? DEFAULT_RELAY_LIMITS.pendingAuthorizations,
      siteSessions: c.relays?.site_sessions ?? DEFAULT_RELAY_LIMITS.siteSessions,
    },
    gateway,
  };
}

/** Reads DIR/site.toml. Throws ConfigError naming file, key and fix. */
export function loadSiteConfig(dir: string): SiteConfig {
  const file = resolve(dir, SITE_CONFIG_FILE);
  return siteConfigFromText(readConfigFile(file, 'site config'), file);
}

/** The identity directory of a site config (profile = "identity" by default). */
export function siteIdentityDir(config: SiteConfig): string {
  return dirname(config.gateway.identity.certFile);
}
