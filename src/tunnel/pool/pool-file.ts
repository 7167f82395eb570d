// The `ifconfig-pool-persist FILE` format, OpenVPN's: one line per identity,
//   identity,ipv4,ipv6
// either address may be empty (`alice,10.8.0.2,` or `bob,,fd00::1000`); the
// OpenVPN 2.4 form `identity,ipv4` is read too. `#` starts a comment line.
// insel writes it whole, atomically (temporary file, fsync, rename), mode
// 0600. A malformed line stops the server (ConfigError naming file:line):
// silently dropping it would move clients to new addresses.
import { readFileSync } from 'node:fs';
import { ConfigError, configError } from '../../config/errors.js';
import { writeFileAtomic } from '../../pki/store.js';
import { parseIp, type Family } from './ip-bigint.js';

export interface PoolFileEntry {
  identity: string;
  ipv4?: string;
  ipv6?: string;
  /** 1-based line in the file (0 for entries not read from a file) */
  line: number;
}

/** Identities are printable ASCII without commas (certificate names and identity URIs are). */
const IDENTITY = /^[\x21-\x2b\x2d-\x7e]{1,256}$/;
/** Far beyond any pool we write (a /16 is ~2 MiB): a bigger file is not ours. */
const MAX_FILE_BYTES = 64 << 20;
const HEADER = '# insel ifconfig-pool-persist: identity,ipv4,ipv6 per line; rewritten by insel tunnel, edit only while it is stopped\n';

export function isPoolIdentity(identity: string): boolean {
  return IDENTITY.test(identity) && !identity.startsWith('#');
}

/** The entries of `file`; none when it does not exist yet. */
export function readPoolFile(file: string): PoolFileEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw configError(file, '', `cannot read the ifconfig-pool-persist file: ${(err as Error).message}`, err);
  }
  if (text.length > MAX_FILE_BYTES) throw configError(file, '', `${text.length} bytes is too big for a pool file; ${DELETE_HINT}`);
  const entries: PoolFileEntry[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const entry = parseLine(line, i + 1, file);
    const before = seen.get(entry.identity);
    if (before !== undefined) throw poolFileError(file, i + 1, `${JSON.stringify(entry.identity)} already has line ${before}`);
    seen.set(entry.identity, i + 1);
    entries.push(entry);
  });
  return entries;
}

export function writePoolFile(file: string, entries: readonly Omit<PoolFileEntry, 'line'>[]): void {
  const lines = entries.map((e) => `${e.identity},${e.ipv4 ?? ''},${e.ipv6 ?? ''}\n`);
  writeFileAtomic(file, HEADER + lines.join(''), { mode: 0o600, force: true });
}

const DELETE_HINT = 'fix the line, or delete the file while the server is stopped (clients may then get new addresses)';

/** ConfigError naming `file:line`, with the fix. */
export function poolFileError(file: string, line: number, problem: string): ConfigError {
  return new ConfigError(`${file}:${line}: ${problem}; ${DELETE_HINT}`, { file });
}

function parseLine(line: string, n: number, file: string): PoolFileEntry {
  const fields = line.split(',');
  if (fields.length < 2 || fields.length > 3) throw poolFileError(file, n, `expected identity,ipv4,ipv6, got ${fields.length} field(s)`);
  const [identity, v4 = '', v6 = ''] = fields.map((f) => f.trim()) as [string, string?, string?];
  if (!isPoolIdentity(identity)) throw poolFileError(file, n, `${JSON.stringify(identity.slice(0, 80))} is not an identity (printable ASCII, no commas)`);
  const entry: PoolFileEntry = { identity, line: n };
  if (v4 !== '') entry.ipv4 = address(v4, 4, file, n);
  if (v6 !== '') entry.ipv6 = address(v6, 6, file, n);
  if (entry.ipv4 === undefined && entry.ipv6 === undefined) throw poolFileError(file, n, `${identity} has no address`);
  return entry;
}

function address(text: string, family: Family, file: string, n: number): string {
  if (parseIp(text)?.family !== family) throw poolFileError(file, n, `${JSON.stringify(text.slice(0, 80))} is not an IPv${family} address`);
  return text;
}
