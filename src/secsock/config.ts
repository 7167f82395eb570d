// Channel options: one zod schema with defaults, checked before any socket
// opens. Errors name the field and the fix.
import { z } from 'zod';
import { AEADS, COMPRESSIONS, HASHES, MODES, brokenAlgorithmError } from './algorithms.js';
import { ConfigError } from '../config/errors.js';
import { REKEY_AFTER_BYTES, REKEY_AFTER_MS, REKEY_AFTER_PACKETS } from './constants.js';
import { ROLES } from '../pki/identity.js';

const list = <T extends readonly [string, ...string[]]>(names: T, dflt: T[number][]) =>
  z.array(z.enum(names)).min(1).default(dflt);

export const optionsSchema = z
  .object({
    transport: z.enum(['tcp', 'udp']).default('tcp'),
    /** PEM strings, as from `loadProfile`. */
    // Strict: a misspelt `crl` must be an error, not revocation silently off.
    identity: z.object({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().min(1), crl: z.string().optional() }).strict(),
    /** Roles the peer's certificate may have. */
    peerRoles: z.array(z.enum(ROLES as unknown as [string, ...string[]])).min(1).optional(),
    /** Client: the name the server's certificate must carry (insel name or a --host name); unset: any name. */
    serverName: z.string().min(1).optional(),
    /** Client: accept a root CRL past its nextUpdate (the caller warns); by default connect refuses. */
    allowStaleCrl: z.boolean().default(false),
    aeads: list(AEADS, ['aes-256-gcm', 'chacha20-poly1305']),
    hashes: list(HASHES, ['sha256', 'sha384', 'sha512', 'blake2b512']),
    compressions: list(COMPRESSIONS, ['none', 'deflate']),
    modes: list(MODES, ['private']),
    /** 'none' in `modes` needs this too: plaintext is never a default. */
    allowPlaintext: z.boolean().default(false),
    maxFrame: z.number().int().min(512).max(16 * 1024 * 1024).default(64 * 1024),
    maxMessage: z.number().int().min(1).max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
    datagramSize: z.number().int().min(576).max(65507).default(1400),
    keepaliveMs: z.number().int().min(10).default(10_000),
    deadPeerMs: z.number().int().min(50).default(30_000),
    tickMs: z.number().int().min(5).default(500),
    /** Server: from TCP accept to the end of the connection phase; then the connection is closed. */
    handshakeTimeoutMs: z.number().int().min(50).default(10_000),
    /** Server: connections still in the connection phase, per client IP address and in all; more are closed at accept. */
    unauthenticatedPerSource: z.number().int().min(1).default(16),
    unauthenticatedTotal: z.number().int().min(1).default(128),
    rekeyAfterMs: z.number().int().min(10).default(REKEY_AFTER_MS),
    rekeyAfterPackets: z.number().int().min(16).max(REKEY_AFTER_PACKETS).default(REKEY_AFTER_PACKETS),
    rekeyAfterBytes: z.number().int().min(4096).max(REKEY_AFTER_BYTES).default(REKEY_AFTER_BYTES),
    reassemblyMaxMessages: z.number().int().min(1).default(64),
    reassemblyMaxBytes: z.number().int().min(1024).default(32 * 1024 * 1024),
    reassemblyTimeoutMs: z.number().int().min(10).default(5_000),
    /** Received messages held for the application before TCP pauses / UDP drops. */
    recvQueueBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
    /** Server: UDP data port (0: any free port). Client: local UDP port. */
    udpPort: z.number().int().min(0).max(65535).default(0),
    udpHost: z.string().optional(),
  })
  .strict();

export type SecOptions = z.input<typeof optionsSchema>;
export type ResolvedOptions = z.output<typeof optionsSchema>;

/** Validates options; `where` names the config source in errors (file or API). */
export function resolveOptions(input: SecOptions, where = 'options'): ResolvedOptions {
  // Input may come from a config file: anything that is not a list of strings
  // is left for the schema to name, rather than crashing this loop.
  const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  for (const key of ['aeads', 'hashes', 'compressions', 'modes'] as const) {
    const names = raw[key];
    if (!Array.isArray(names)) continue;
    for (const name of names) {
      const broken = typeof name === 'string' ? brokenAlgorithmError(name, `${where}.${key}`) : undefined;
      if (broken) throw broken;
    }
  }
  const parsed = optionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // A misspelt key is reported on its parent object: name the key itself.
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    const field = path.join('.');
    throw new ConfigError(`${where}${field ? `.${field}` : ''}: ${issue.message}`, { field });
  }
  const o = parsed.data;
  if (o.modes.includes('none') && !o.allowPlaintext) {
    throw new ConfigError(`${where}.modes: 'none' sends plaintext; set allowPlaintext: true as well if you really mean it`, {
      field: 'modes',
    });
  }
  if (o.deadPeerMs <= o.keepaliveMs) {
    throw new ConfigError(`${where}.deadPeerMs (${o.deadPeerMs}) must exceed keepaliveMs (${o.keepaliveMs})`, { field: 'deadPeerMs' });
  }
  return o;
}
