// The client's persistent forwards: one TOML file naming the gateway, the
// client's identity and the forwards to keep open, reconnecting with
// exponential backoff. examples/forwards.toml documents every key.
//
// Each [[forward]] is the config-file spelling of a CLI spec: type "local" is
// -L, "remote" -R, "udp" -U, "dynamic" -D; `listen` is [bind:]port, `to` is
// host:port (none for dynamic: each SOCKS request names its target). A
// dynamic forward on a shared host may require RFC 1929 username/password:
// `username` and `password_file` (the password on its first line, the file
// not readable by others).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { durationField, durationString } from '../config/duration.js';
import { configError, zodConfigError } from '../config/errors.js';
import { identityFromConfig, identityShape, IDENTITY_HINT, profileCrlFile, type IdentityFiles } from '../config/identity.js';
import { asConfig, ioReason, parseToml, readConfigFile } from '../config/toml.js';
import type { SocksCredentials } from '../socks/handshake.js';
import { checkPrivateFile } from '../tunnel/auth/private-file.js';
import { formatHostPort, parseBindPort, parseHostPort, type HostPort } from '../net/host-port.js';
import { type ForwardKind, type ForwardSpec } from './spec.js';

export interface PersistentForward extends ForwardSpec {
  /** relay FTP control connections, rewriting PORT/PASV (local forwards only) */
  ftp: boolean;
  /** RFC 1929 credentials a dynamic forward requires */
  socksAuth?: SocksCredentials;
}

export interface ForwardsConfig {
  /** absolute path of the config file */
  file: string;
  via: HostPort;
  identity: IdentityFiles;
  /** the name the gateway's certificate must carry; undefined: the via host */
  gatewayName?: string;
  allowStaleCrl: boolean;
  /** where a CRL refreshed from the gateway is stored: the crl file, or the profile's crl.pem */
  crlStore?: string;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  forwards: PersistentForward[];
}

const KINDS: Record<'local' | 'remote' | 'udp' | 'dynamic', ForwardKind> = { local: 'L', remote: 'R', udp: 'U', dynamic: 'D' };

const FORWARD_EXAMPLE = '[[forward]] type = "local", listen = "127.0.0.1:2525", to = "mail.example.com:25"';

const forwardSchema = z
  .object({
    type: z.enum(['local', 'remote', 'udp', 'dynamic'], { error: 'use "local" (like -L), "remote" (like -R), "udp" (like -U) or "dynamic" (like -D)' }),
    // listen = 2525 reads naturally in TOML; take the integer too.
    listen: z.union([z.string(), z.number().int()], { error: 'must be a string like "127.0.0.1:2525" or a port number' }).transform(String),
    to: z.string({ error: 'must be a string like "mail.example.com:25"' }).optional(),
    ftp: z.boolean({ error: 'must be true or false' }).optional(),
    username: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(255, { error: 'must be at most 255 bytes (RFC 1929)' }).optional(),
    password_file: z.string({ error: 'must be a path string' }).min(1).optional(),
  })
  .strict();

const forwardsSchema = z
  .object({
    via: z.string({ error: 'must be a string like "gw.example.com:4433"' }),
    ...identityShape,
    gateway_name: z.string({ error: 'must be a string: the gateway certificate\'s insel name or one of its --host names' }).min(1).optional(),
    allow_stale_crl: z.boolean({ error: 'must be true or false' }).optional(),
    reconnect_min: durationString('500ms').optional(),
    reconnect_max: durationString('30s').optional(),
    forward: z
      .array(forwardSchema, { error: 'must be [[forward]] tables' })
      .min(1, { error: `no forwards: add at least one, e.g. ${FORWARD_EXAMPLE}` }),
  })
  .strict();

const HINTS: Record<string, string> = {
  '': 'known keys: via, profile, cert, key, ca, crl, gateway_name, allow_stale_crl, reconnect_min, reconnect_max, [[forward]]',
  via: 'e.g. via = "gw.example.com:4433"',
  gateway_name: 'e.g. gateway_name = "gw" (the name in the gateway\'s certificate, if it is not the via host)',
  allow_stale_crl: 'allow_stale_crl = true accepts a CRL past its next update, with a warning',
  profile: IDENTITY_HINT,
  forward: `add [[forward]] tables with keys type, listen, to, ftp (dynamic: username, password_file); e.g. ${FORWARD_EXAMPLE}`,
  reconnect_min: 'e.g. reconnect_min = "500ms"',
  reconnect_max: 'e.g. reconnect_max = "30s"',
};

/** The forwards config in `text`; `file` is where it came from (relative paths resolve against its directory). */
export function forwardsConfigFromText(text: string, file: string): ForwardsConfig {
  const abs = resolve(file);
  const raw = parseToml(text, abs);
  const parsed = forwardsSchema.safeParse(raw);
  if (!parsed.success) throw zodConfigError(abs, parsed.error.issues, raw, HINTS);
  const c = parsed.data;
  const reconnectMinMs = durationField(abs, 'reconnect_min', c.reconnect_min, 500);
  const reconnectMaxMs = durationField(abs, 'reconnect_max', c.reconnect_max, 30_000);
  if (reconnectMinMs > reconnectMaxMs) {
    throw configError(abs, 'reconnect_min', `${c.reconnect_min} exceeds reconnect_max (${c.reconnect_max ?? '30s'}): backoff starts at reconnect_min and doubles up to reconnect_max`);
  }
  const seen = new Map<string, number>();
  const forwards = c.forward.map((f, i): PersistentForward => {
    const field = `forward[${i}]`;
    const kind = KINDS[f.type];
    const { bind, port } = asConfig(abs, `${field}.listen`, () => parseBindPort(f.listen, `${abs}: ${field}.listen`));
    if (f.ftp === true && kind !== 'L') throw configError(abs, `${field}.ftp`, `FTP relaying works on local forwards only; remove ftp or use type = "local"`);
    if (kind !== 'D' && (f.username ?? f.password_file) !== undefined) throw configError(abs, `${field}.${f.username === undefined ? 'password_file' : 'username'}`, 'only dynamic (SOCKS) forwards take a username and password');
    // Two forwards on one port fail at runtime with EADDRINUSE; say so now.
    const key = `${kind === 'U' ? 'udp' : kind === 'R' ? 'gateway' : 'tcp'} ${formatHostPort(bind, port)}`;
    const other = seen.get(key);
    if (port !== 0 && other !== undefined) throw configError(abs, `${field}.listen`, `forward[${other}] listens on ${formatHostPort(bind, port)} already`);
    seen.set(key, i);
    if (kind === 'D') {
      if (f.to !== undefined) throw configError(abs, `${field}.to`, 'a dynamic forward has no fixed target: each SOCKS request names one; remove to');
      const socksAuth = credentials(abs, field, f.username, f.password_file);
      return { kind, bind, port, host: '', hostPort: 0, text: String(f.listen), ftp: false, ...(socksAuth === undefined ? {} : { socksAuth }) };
    }
    if (f.to === undefined) throw configError(abs, `${field}.to`, `missing: where the gateway connects, e.g. to = "mail.example.com:25"`);
    const to = asConfig(abs, `${field}.to`, () => parseHostPort(f.to!, `${abs}: ${field}.to`));
    return { kind, bind, port, host: to.host, hostPort: to.port, text: `${f.listen}:${f.to}`, ftp: f.ftp ?? false };
  });
  const identity = identityFromConfig(c, abs, dirname(abs));
  const crlStore = identity.crlFile ?? (c.profile === undefined ? undefined : profileCrlFile(resolve(dirname(abs), c.profile)));
  return {
    file: abs,
    via: asConfig(abs, 'via', () => parseHostPort(c.via, `${abs}: via`)),
    identity,
    ...(c.gateway_name === undefined ? {} : { gatewayName: c.gateway_name }),
    allowStaleCrl: c.allow_stale_crl ?? false,
    ...(crlStore === undefined ? {} : { crlStore }),
    reconnectMinMs,
    reconnectMaxMs,
    forwards,
  };
}

/** A dynamic forward's RFC 1929 credentials: both keys or neither; the password file private, its first line the password. */
function credentials(abs: string, field: string, username: string | undefined, passwordFile: string | undefined): SocksCredentials | undefined {
  if (username === undefined && passwordFile === undefined) return undefined;
  if (username === undefined) throw configError(abs, `${field}.username`, 'missing: password_file needs a username too');
  if (passwordFile === undefined) throw configError(abs, `${field}.password_file`, 'missing: a username needs a password_file (the password on its first line, chmod 600)');
  const file = resolve(dirname(abs), passwordFile);
  checkPrivateFile(file, `${field}.password_file`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(abs, `${field}.password_file`, `cannot read ${file}: ${ioReason(err)}`);
  }
  const password = text.split(/\r?\n/, 1)[0]!;
  if (password.length === 0 || Buffer.byteLength(password) > 255) throw configError(abs, `${field}.password_file`, `${file}: the first line must be the password, 1-255 bytes (RFC 1929)`);
  return { username, password };
}

/** Reads and checks the forwards file. Throws ConfigError (code INSEL_CONFIG) naming file, key and fix. */
export function loadForwardsConfig(file: string): ForwardsConfig {
  return forwardsConfigFromText(readConfigFile(resolve(file), 'forwards config'), file);
}
