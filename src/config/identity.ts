// Who an end is, as config files and flags name it: a profile directory
// (cert.pem, key.pem, ca.pem, crl.pem if present; insel pki export writes
// one) or separate files; read into PEM strings (pki/profile.ts IdentityPem)
// with errors naming the file.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { IdentityPem } from '../pki/profile.js';
import { configError, ConfigError } from './errors.js';
import { ioReason } from './toml.js';

/** How a config file or the command line names an identity: profile, or cert, key, ca and optionally crl. */
export interface IdentitySource {
  profile?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  ca?: string | undefined;
  crl?: string | undefined;
}

/** The files of an identity, absolute or relative to the working directory. */
export interface IdentityFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
  crlFile?: string;
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

/** What is wrong with an IdentitySource: both a profile and `both`, or `missing` without a profile. */
export type IdentityProblem = { both: 'cert' | 'key' | 'ca' | 'crl' } | { missing: 'cert' | 'key' | 'ca' };

/** The files `src` names, paths resolved against `dir`; or what is wrong with it, for the caller to phrase. */
export function identityFiles(src: IdentitySource, dir: string): IdentityFiles | IdentityProblem {
  if (src.profile !== undefined) {
    const both = (['cert', 'key', 'ca', 'crl'] as const).find((k) => src[k] !== undefined);
    return both === undefined ? profileFiles(resolve(dir, src.profile)) : { both };
  }
  const missing = (['cert', 'key', 'ca'] as const).find((k) => src[k] === undefined);
  if (missing !== undefined) return { missing };
  return {
    certFile: resolve(dir, src.cert!),
    keyFile: resolve(dir, src.key!),
    caFile: resolve(dir, src.ca!),
    ...(src.crl === undefined ? {} : { crlFile: resolve(dir, src.crl) }),
  };
}

/** Reads the PEM files; a missing or non-PEM file is named in the error. `where` says whose files they are. */
export function readIdentityFiles(files: IdentityFiles, where = 'identity'): IdentityPem {
  const read = (path: string, what: string, marker: string): string => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`${where}: cannot read the ${what} ${path}: ${ioReason(err)}`, { file: path, cause: err });
    }
    if (!text.includes(marker)) throw new ConfigError(`${where}: ${path} is not a PEM ${what} (no "${marker}" in it)`, { file: path });
    return text;
  };
  const cert = read(files.certFile, 'certificate', '-----BEGIN CERTIFICATE-----');
  const key = read(files.keyFile, 'private key', 'PRIVATE KEY-----');
  const ca = read(files.caFile, 'CA certificate', '-----BEGIN CERTIFICATE-----');
  const crl = files.crlFile === undefined ? undefined : read(files.crlFile, 'CRL', '-----BEGIN X509 CRL-----');
  return { cert, key, ca, ...(crl === undefined ? {} : { crl }) };
}

const path = z.string({ error: 'must be a file path string' }).min(1, { error: 'is empty' });

/** The keys profile, cert, key, ca, crl, for a config file's zod schema. */
export const identityShape = {
  profile: path.optional(),
  cert: path.optional(),
  key: path.optional(),
  ca: path.optional(),
  crl: path.optional(),
} satisfies Record<keyof IdentitySource, z.ZodType>;

export const IDENTITY_HINT = 'set profile = "DIR" (a directory holding cert.pem, key.pem, ca.pem and optionally crl.pem), or cert, key and ca file paths';

/** The identity keys of config file `file`, resolved against its directory; ConfigError naming the key otherwise. */
export function identityFromConfig(src: IdentitySource, file: string, dir: string): IdentityFiles {
  const r = identityFiles(src, dir);
  if ('both' in r) throw configError(file, r.both, 'set either profile or cert/key/ca/crl, not both');
  if ('missing' in r) throw configError(file, r.missing, `missing; ${IDENTITY_HINT}`);
  return r;
}
