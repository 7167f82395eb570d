// The gateway's TOML config: parsed with smol-toml, checked with zod, then
// turned into what the gateway runs with (absolute paths, milliseconds, a
// compiled Policy). Every error names the file, the key and the fix; nothing
// is defaulted around a mistake. examples/gateway.toml documents every key.
//
// The identity helpers here (profileFiles, readIdentityFiles) are shared with
// the client's forwards config and the CLI's --profile/--cert/--key/--ca.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { z } from 'zod';
import { configError, ForwardConfigError, ForwardError, zodConfigError } from './errors.js';
import { limitsFromConfig, perIdentityLimitsShape, type Limits } from './limits.js';
import { Policy, type RuleConfig } from './policy.js';
import { DEFAULT_DNS_TIMEOUT_MS, DEFAULT_HOSTS_FILE, dnsServersProblem, type DnsConfig } from './resolve.js';
import { parseHostPort, quote, type HostPort } from './spec.js';
import type { UnauthLimits } from '../net/unauth-gate.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface IdentityFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
  crlFile?: string;
}

/** PEM strings, ready for SecServer/TLS options. */
export interface IdentityPem {
  cert: string;
  key: string;
  ca: string;
  crl?: string;
}

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

/** Longest duration accepted: far below setTimeout's 24.8-day limit, far above any sane timeout. */
const DURATION_MAX_MS = 7 * 24 * 3600_000;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3600_000 } as const;
const DURATION_FORM = 'use a number and a unit, e.g. "500ms", "30s", "5m", "1h"';

/** Milliseconds, or the problem with `text`. */
export function durationMs(text: unknown): number | string {
  if (typeof text !== 'string') return `must be a string: ${DURATION_FORM}`;
  const m = /^([0-9]{1,12}(?:\.[0-9]{1,6})?)(ms|s|m|h)$/.exec(text);
  if (!m) return `${quote(text)} is not a duration: ${DURATION_FORM}`;
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
  if (ms < 1) return `${quote(text)} must be at least 1ms`;
  if (ms > DURATION_MAX_MS) return `${quote(text)} is too long: at most 7 days ("168h")`;
  return ms;
}

/** "500ms", "30s", "5m", "1h" (fractions allowed: "1.5s") to milliseconds; ForwardConfigError naming `where` otherwise. */
export function parseDuration(text: string, where: string): number {
  const ms = durationMs(text);
  if (typeof ms === 'string') throw new ForwardConfigError(`${where}: ${ms}`, { field: where });
  return ms;
}

function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return err instanceof Error ? err.message : String(err);
}

/** Reads a config file whole; `what` says which ("gateway config"). */
export function readConfigFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ForwardConfigError(`cannot read the ${what} ${file}: ${ioReason(err)}`, { file, cause: err });
  }
}

/** The top-level table of a TOML document; syntax errors name file:line:column. */
export function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const what = err.message.replace(/^Invalid TOML document: /, '').split('\n')[0];
      throw new ForwardConfigError(`${file}:${err.line}:${err.column}: invalid TOML: ${what}`, { file, cause: err });
    }
    // smol-toml throws only TomlError as far as we know; anything else is still the file's fault.
    throw new ForwardConfigError(`${file}: invalid TOML: ${err instanceof Error ? err.message : String(err)}`, { file, cause: err });
  }
}

/** Runs a spec parser for config key `field`, reporting its failure as a config error. */
export function asConfig<T>(file: string, field: string, parseIt: () => T): T {
  try {
    return parseIt();
  } catch (err) {
    if (err instanceof ForwardError) throw new ForwardConfigError(err.message, { file, field, cause: err });
    throw err;
  }
}

/** A profile's CRL file: read if present, where a client stores a CRL refreshed from its gateway. */
export function profileCrlFile(dir: string): string {
  return join(dir, 'crl.pem');
}

/** The files of a profile directory: cert.pem, key.pem, ca.pem, and crl.pem if present. */
export function profileFiles(dir: string): IdentityFiles {
  const crlFile = profileCrlFile(dir);
  return {
    certFile: join(dir, 'cert.pem'),
    keyFile: join(dir, 'key.pem'),
    caFile: join(dir, 'ca.pem'),
    ...(existsSync(crlFile) ? { crlFile } : {}),
  };
}

/** Reads the PEM files; a missing or non-PEM file is named in the error. `where` says whose files they are. */
export function readIdentityFiles(files: IdentityFiles, where = 'identity'): IdentityPem {
  const read = (path: string, what: string, marker: string): string => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ForwardConfigError(`${where}: cannot read the ${what} ${path}: ${ioReason(err)}`, { file: path, cause: err });
    }
    if (!text.includes(marker)) throw new ForwardConfigError(`${where}: ${path} is not a PEM ${what} (no "${marker}" in it)`, { file: path });
    return text;
  };
  const cert = read(files.certFile, 'certificate', '-----BEGIN CERTIFICATE-----');
  const key = read(files.keyFile, 'private key', 'PRIVATE KEY-----');
  const ca = read(files.caFile, 'CA certificate', '-----BEGIN CERTIFICATE-----');
  const crl = files.crlFile === undefined ? undefined : read(files.crlFile, 'CRL', '-----BEGIN X509 CRL-----');
  return { cert, key, ca, ...(crl === undefined ? {} : { crl }) };
}

const path = z.string({ error: 'must be a file path string' }).min(1, { error: 'is empty' });

/** profile, cert, key, ca, crl: shared by both config files. */
export const identityShape = {
  profile: path.optional(),
  cert: path.optional(),
  key: path.optional(),
  ca: path.optional(),
  crl: path.optional(),
};

export const IDENTITY_HINT = 'set profile = "DIR" (a directory holding cert.pem, key.pem, ca.pem and optionally crl.pem), or cert, key and ca file paths';

/** Resolves the identity keys against the config file's directory. */
export function resolveIdentity(raw: { profile?: string; cert?: string; key?: string; ca?: string; crl?: string }, file: string): IdentityFiles {
  const dir = dirname(file);
  if (raw.profile !== undefined) {
    const both = (['cert', 'key', 'ca', 'crl'] as const).find((k) => raw[k] !== undefined);
    if (both) throw configError(file, both, `set either profile or cert/key/ca/crl, not both`);
    return profileFiles(resolve(dir, raw.profile));
  }
  for (const k of ['cert', 'key', 'ca'] as const) {
    if (raw[k] === undefined) throw configError(file, k, `missing; ${IDENTITY_HINT}`);
  }
  return {
    certFile: resolve(dir, raw.cert!),
    keyFile: resolve(dir, raw.key!),
    caFile: resolve(dir, raw.ca!),
    ...(raw.crl === undefined ? {} : { crlFile: resolve(dir, raw.crl) }),
  };
}

export const durationString = (example: string) => z.string({ error: `must be a string, e.g. "${example}"` });

// [limits], before authentication: concurrent connections not yet verified
// (per source address, in all) and the time from accept to verified. Keys
// for limits after authentication belong to the same table.
const count = (example: number) => z.number({ error: `must be a whole number, e.g. ${example}` }).int({ error: `must be a whole number, e.g. ${example}` }).min(1, { error: 'must be at least 1' }).max(1_000_000, { error: 'must be at most 1000000' });
const unauthLimitsShape = {
  unauthenticated_per_source: count(16).optional(),
  unauthenticated_total: count(128).optional(),
  handshake_timeout: durationString('10s').optional(),
};
const UNAUTH_DEFAULTS: UnauthLimits = { perSource: 16, total: 128, timeoutMs: 10_000 };

function unauthLimits(file: string, raw: { unauthenticated_per_source?: number; unauthenticated_total?: number; handshake_timeout?: string } = {}): UnauthLimits {
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
  limits: 'known keys: unauthenticated_per_source, unauthenticated_total, handshake_timeout, sessions_per_identity, streams_per_identity, listeners_per_identity, lookups_per_identity, udp_channels_per_identity, udp_flows_per_identity, queued_bytes_per_session, streams_per_session, opens_per_second',
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

/** A duration key in milliseconds, `dflt` when absent. */
export function durationField(file: string, field: string, value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  const ms = durationMs(value);
  if (typeof ms === 'string') throw configError(file, field, ms);
  return ms;
}

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
  const raw = parseToml(text, abs);
  const parsed = gatewaySchema.safeParse(raw);
  if (!parsed.success) throw zodConfigError(abs, parsed.error.issues, raw, HINTS);
  const c = parsed.data;
  const udpListen = c.udp_listen === undefined ? undefined : asConfig(abs, 'udp_listen', () => parseHostPort(c.udp_listen!, `${abs}: udp_listen`, { allowPortZero: true }));
  return {
    file: abs,
    listen: asConfig(abs, 'listen', () => parseHostPort(c.listen, `${abs}: listen`, { allowPortZero: true })),
    ...(udpListen === undefined ? {} : { udpListen }),
    identity: resolveIdentity(c, abs),
    udpIdleTimeoutMs: durationField(abs, 'udp_idle_timeout', c.udp_idle_timeout, 60_000),
    connectTimeoutMs: durationField(abs, 'connect_timeout', c.connect_timeout, 10_000),
    logLevel: c.log_level ?? 'info',
    policy: Policy.fromRules((c.allow ?? []) as RuleConfig[], abs),
    unauth: unauthLimits(abs, c.limits),
    limits: limitsFromConfig(c.limits),
    dns: dnsConfig(abs, c.dns),
  };
}

/** Reads and checks the gateway config file. Throws ForwardConfigError (code INSEL_CONFIG) naming file, key and fix. */
export function loadGatewayConfig(file: string): GatewayConfig {
  return gatewayConfigFromText(readConfigFile(resolve(file), 'gateway config'), file);
}
