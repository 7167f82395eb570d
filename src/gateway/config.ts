// The gateway's TOML config: parsed with smol-toml, checked with zod, then
// turned into what the gateway runs with (absolute paths, milliseconds, a
// compiled Policy). Every error names the file, the key and the fix; nothing
// is defaulted around a mistake. examples/gateway.toml documents every key.
// The pieces every config shares (TOML, durations, identity files) are in
// src/config.
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { durationField, durationString } from '../config/duration.js';
import { configError, zodConfigError } from '../config/errors.js';
import { identityFromConfig, identityShape, IDENTITY_HINT, type IdentityFiles } from '../config/identity.js';
import { asConfig, parseToml, readConfigFile } from '../config/toml.js';
import { limitsFromConfig, perIdentityLimitsShape, type Limits } from './limits.js';
import { Policy, type RuleConfig } from '../policy/policy.js';
import { DEFAULT_DNS_TIMEOUT_MS, DEFAULT_HOSTS_FILE, dnsServersProblem, type DnsConfig } from './resolve.js';
import { parseHostPort, type HostPort } from '../net/host-port.js';
import type { UnauthLimits } from '../net/unauth-gate.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface GatewayConfig {
  /** absolute path of the config file */
  file: string;
  /** TLS 1.3 mTLS listener: insel/1 forwards and HTTP/1.1 CONNECT; port 0: any free port */
  listen: HostPort;
  /** SecSockets UDP channels for UDP forwards; absent: no UDP forwards */
  udpListen?: HostPort;
  identity: IdentityFiles;
  udpIdleTimeoutMs: number;
  connectTimeoutMs: number;
  logLevel: LogLevel;
  policy: Policy;
  /** [limits] before authentication, on the TLS port and the UDP channels' connection port (read at start only) */
  unauth: UnauthLimits;
  /** per-identity limits ([limits]) */
  limits: Limits;
  /** name resolution ([dns]) */
  dns: DnsConfig;
}

// [limits], before authentication: concurrent connections not yet verified
// (per source address, in all) and the time from accept to verified. Keys
// for limits after authentication belong to the same table.
const count = (example: number) => z.number({ error: `must be a whole number, e.g. ${example}` }).int({ error: `must be a whole number, e.g. ${example}` }).min(1, { error: 'must be at least 1' }).max(1_000_000, { error: 'must be at most 1000000' });
export const unauthLimitsShape = {
  unauthenticated_per_source: count(16).optional(),
  unauthenticated_total: count(128).optional(),
  handshake_timeout: durationString('10s').optional(),
};
const UNAUTH_DEFAULTS: UnauthLimits = { perSource: 16, total: 128, timeoutMs: 10_000 };

export function unauthLimits(file: string, raw: { unauthenticated_per_source?: number; unauthenticated_total?: number; handshake_timeout?: string } = {}): UnauthLimits {
  const limits = {
    perSource: raw.unauthenticated_per_source ?? UNAUTH_DEFAULTS.perSource,
    total: raw.unauthenticated_total ?? UNAUTH_DEFAULTS.total,
    timeoutMs: durationField(file, 'limits.handshake_timeout', raw.handshake_timeout, UNAUTH_DEFAULTS.timeoutMs),
  };
  if (limits.total < limits.perSource) throw configError(file, 'limits.unauthenticated_total', `(${limits.total}) is below limits.unauthenticated_per_source (${limits.perSource}); raise it or lower the other`);
  return limits;
}

const gatewaySchema = z
  .object({
    listen: z.string({ error: 'must be a string' }),
    udp_listen: z.string({ error: 'must be a string' }).optional(),
    ...identityShape,
    udp_idle_timeout: durationString('60s').optional(),
    connect_timeout: durationString('10s').optional(),
    log_level: z.enum(LOG_LEVELS, { error: `use one of ${LOG_LEVELS.join(', ')}` }).optional(),
    allow: z.array(z.unknown(), { error: 'must be a list of [[allow]] tables' }).optional(),
    limits: z
      .object({
        // before authentication (unauth-gate.ts)
        ...unauthLimitsShape,
        // per identity (limits.ts)
        ...perIdentityLimitsShape,
      }, { error: 'must be a [limits] table' })
      .strict()
      .optional(),
    dns: z
      .object({
        servers: z.array(z.string({ error: 'each entry must be a string, e.g. "10.0.0.53" or "10.0.0.53:5353"' }), { error: 'must be a list, e.g. servers = ["10.0.0.53"]' }).min(1, { error: 'is empty: leave it out to use the system\'s DNS servers' }).optional(),
        timeout: durationString('5s').optional(),
        hosts_file: z.string({ error: 'must be a file path string, or "" for none' }).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const HINTS: Record<string, string> = {
  '': 'known keys: listen, udp_listen, profile, cert, key, ca, crl, udp_idle_timeout, connect_timeout, log_level, [limits], [dns], [[allow]]',
  // from the schema, so a new [limits] key cannot be missing here
  limits: `known keys: ${Object.keys({ ...unauthLimitsShape, ...perIdentityLimitsShape }).join(', ')}`,
  unauthenticated_per_source: 'e.g. unauthenticated_per_source = 16',
  unauthenticated_total: 'e.g. unauthenticated_total = 128',
  handshake_timeout: 'e.g. handshake_timeout = "10s"',
  dns: 'known keys: servers, timeout, hosts_file',
  listen: 'e.g. listen = "0.0.0.0:4433"',
  udp_listen: 'e.g. udp_listen = "0.0.0.0:4434"',
  profile: IDENTITY_HINT,
  udp_idle_timeout: 'e.g. udp_idle_timeout = "60s"',
  connect_timeout: 'e.g. connect_timeout = "10s"',
};

function dnsConfig(file: string, raw: { servers?: string[]; timeout?: string; hosts_file?: string } | undefined): DnsConfig {
  const servers = raw?.servers;
  servers?.forEach((server, i) => {
    const problem = dnsServersProblem(server);
    if (problem !== undefined) throw configError(file, ['dns', 'servers', i], problem);
  });
  const hostsFile = raw?.hosts_file;
  return {
    ...(servers === undefined ? {} : { servers }),
    timeoutMs: durationField(file, 'dns.timeout', raw?.timeout, DEFAULT_DNS_TIMEOUT_MS),
    hostsFile: hostsFile === undefined ? DEFAULT_HOSTS_FILE : hostsFile === '' ? '' : resolve(dirname(file), hostsFile),
  };
}

/** The gateway config in `text`; `file` is where it came from (relative paths resolve against its directory). */
export function gatewayConfigFromText(text: string, file: string): GatewayConfig {
  const abs = resolve(file);
  return gatewayConfigFromRaw(parseToml(text, abs), abs);
}

/** The gateway config from parsed TOML `raw` of file `abs` (an org site's site.toml hands over its gateway keys). */
export function gatewayConfigFromRaw(raw: unknown, abs: string): GatewayConfig {
  const parsed = gatewaySchema.safeParse(raw);
  if (!parsed.success) throw zodConfigError(abs, parsed.error.issues, raw, HINTS);
  const c = parsed.data;
  const udpListen = c.udp_listen === undefined ? undefined : asConfig(abs, 'udp_listen', () => parseHostPort(c.udp_listen!, `${abs}: udp_listen`, { allowPortZero: true }));
  return {
    file: abs,
    listen: asConfig(abs, 'listen', () => parseHostPort(c.listen, `${abs}: listen`, { allowPortZero: true })),
    ...(udpListen === undefined ? {} : { udpListen }),
    identity: identityFromConfig(c, abs, dirname(abs)),
    udpIdleTimeoutMs: durationField(abs, 'udp_idle_timeout', c.udp_idle_timeout, 60_000),
    connectTimeoutMs: durationField(abs, 'connect_timeout', c.connect_timeout, 10_000),
    logLevel: c.log_level ?? 'info',
    policy: Policy.fromRules((c.allow ?? []) as RuleConfig[], abs),
    unauth: unauthLimits(abs, c.limits),
    limits: limitsFromConfig(c.limits),
    dns: dnsConfig(abs, c.dns),
  };
}

/** Reads and checks the gateway config file. Throws ConfigError (code INSEL_CONFIG) naming file, key and fix. */
export function loadGatewayConfig(file: string): GatewayConfig {
  return gatewayConfigFromText(readConfigFile(resolve(file), 'gateway config'), file);
}
