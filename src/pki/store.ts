// The PKI directory: where each file lives, how files are written, and the
// index of every certificate ever issued.
//
//   DIR/ca.key              root CA private key (0600)
//   DIR/ca.crt              root CA certificate: the `ca` of every end; after a
//                           CA rollover (rollover.ts) the trust bundle: every
//                           root not retired, oldest first
//   DIR/ca-<n>.crt, ca-<n>.key   root generation n, once there was a rollover
//                           (generation 1 keeps its key in ca.key)
//   DIR/crl.pem             one CRL per live CA (root, each site CA)
//   DIR/index.json          every certificate issued (see IndexRecord)
//   DIR/certs/<name>.crt    leaf, followed by its site CA if a site issued it
//   DIR/private/<name>.key  its private key (0600, directory 0700); a site's
//                           key is also its CA key
//   DIR/lock                held by the mutating command running now (lock.ts)
//
// Files are written whole or not at all: to a temporary file with the final
// mode, fsynced, then renamed over (force) or hard-linked into place, which
// fails if the file appeared meanwhile (no force). Commands that change the
// directory hold its lock (lock.ts), so the index is never read, changed and
// written back by two at once.
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { PkiError } from './errors.js';
import { ROLES } from './identity.js';
import { CRL_REASONS } from './trust.js';

export const KEY_MODE = 0o600;
export const PUBLIC_MODE = 0o644;
export const PRIVATE_DIR_MODE = 0o700;

export interface PkiPaths {
  dir: string;
  caKey: string;
  caCert: string;
  crl: string;
  index: string;
  certsDir: string;
  privateDir: string;
  cert(name: string): string;
  key(name: string): string;
  /** the certificate of root generation n (written from the first rollover on) */
  rootCert(generation: number): string;
  /** the key of root generation n: generation 1's is ca.key */
  rootKey(generation: number): string;
}

export function pkiPaths(dir: string): PkiPaths {
  const certsDir = join(dir, 'certs');
  const privateDir = join(dir, 'private');
  return {
    dir,
    caKey: join(dir, 'ca.key'),
    caCert: join(dir, 'ca.crt'),
    crl: join(dir, 'crl.pem'),
    index: join(dir, 'index.json'),
    certsDir,
    privateDir,
    cert: (name) => join(certsDir, `${name}.crt`),
    key: (name) => join(privateDir, `${name}.key`),
    rootCert: (n) => join(dir, `ca-${n}.crt`),
    rootKey: (n) => (n === 1 ? join(dir, 'ca.key') : join(dir, `ca-${n}.key`)),
  };
}

const isoDate = z.iso.datetime();
const recordSchema = z
  .object({
    name: z.string(),
    role: z.enum(ROLES as unknown as [string, ...string[]]),
    site: z.string().optional(),
    groups: z.array(z.string()),
    /** a site CA's: the groups it may grant (absent: none) */
    grants: z.array(z.string()).optional(),
    serial: z.string().regex(/^[0-9a-f]+$/),
    notBefore: isoDate,
    notAfter: isoDate,
    /** "root", or the name of the site CA that signed it */
    issuer: z.string(),
    /** serial of the signing CA certificate */
    issuerSerial: z.string(),
    /** keyIdOf the certificate's public key: tells a site's CA keys apart across renewals */
    keyId: z.string(),
    revoked: z.object({ at: isoDate, reason: z.enum(CRL_REASONS) }).optional(),
  })
  .strict();

/** A root CA generation (rollover.ts); absent from the index until the first rollover. */
const rootSchema = z
  .object({
    generation: z.number().int().min(1),
    serial: z.string().regex(/^[0-9a-f]+$/),
    notBefore: isoDate,
    notAfter: isoDate,
    keyId: z.string(),
    /** when it left the trust bundle: certificates that chain to it are refused from then on */
    retired: isoDate.optional(),
  })
  .strict();

const indexSchema = z
  .object({
    version: z.literal(1),
    org: z.string(),
    /** the serial of the root that signs (the newest generation) */
    rootSerial: z.string(),
    certs: z.array(recordSchema),
    /** every root generation, oldest first, once the CA was rolled over */
    roots: z.array(rootSchema).optional(),
  })
  .strict();

export type IndexRecord = z.infer<typeof recordSchema> & { role: (typeof ROLES)[number] };
export type RootRecord = z.infer<typeof rootSchema>;
export type PkiIndex = Omit<z.infer<typeof indexSchema>, 'certs'> & { certs: IndexRecord[] };

export function readIndex(paths: PkiPaths): PkiIndex {
  const text = readFile(paths.index, 'PKI index', `is ${paths.dir} a PKI directory? Create one with insel pki init --dir ${paths.dir}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PkiError('INSEL_PKI_BAD_FILE', `${paths.index} is not valid JSON (${(err as Error).message}); restore it from a backup`, { file: paths.index, cause: err });
  }
  const parsed = indexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PkiError('INSEL_PKI_BAD_FILE', `${paths.index}: ${issue.path.join('.') || '(top)'}: ${issue.message}; restore it from a backup`, {
      file: paths.index,
      field: issue.path.join('.'),
    });
  }
  return parsed.data as PkiIndex;
}

export function writeIndex(paths: PkiPaths, index: PkiIndex): void {
  writeFileAtomic(paths.index, `${JSON.stringify(index, null, 2)}\n`, { mode: PUBLIC_MODE, force: true });
}

/** Reads a text file; a missing one is PkiError NOT_FOUND with `hint`. */
export function readFile(file: string, what: string, hint: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PkiError('INSEL_PKI_NOT_FOUND', `${what} ${file} does not exist; ${hint}`, { file, cause: err });
    }
    throw new PkiError('INSEL_PKI_BAD_FILE', `cannot read ${what} ${file}: ${(err as Error).message}`, { file, cause: err });
  }
}

export function existsError(file: string): PkiError {
  return new PkiError('INSEL_PKI_EXISTS', `${file} already exists; pass --force to overwrite it`, { file });
}

/**
 * Creates `dir` (and parents) if missing, with `mode` despite the umask.
 * Returns whether it created `dir`: an existing directory is never changed
 * (it may be shared, as /tmp is), the caller decides whether it will do.
 */
export function ensureDir(dir: string, mode?: number): boolean {
  const created = mkdirSync(dir, { recursive: true, ...(mode === undefined ? {} : { mode }) }) !== undefined;
  if (created && mode !== undefined) chmodSync(dir, mode);
  return created;
}

/**
 * Writes `content` to `file` with `mode`, atomically. Without `force`, an
 * existing file is left alone and PkiError INSEL_PKI_EXISTS names it.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array, opts: { mode: number; force: boolean }): void {
  const tmp = join(dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', opts.mode);
  try {
    chmodSync(tmp, opts.mode); // the umask may have taken bits away; a key must never get any
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    if (opts.force) renameSync(tmp, file);
    else linkSync(tmp, file); // fails with EEXIST, where rename would overwrite
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw existsError(file);
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}
