// A profile directory: what one end needs to run, as plain files another
// machine can take (cert.pem, key.pem 0600, ca.pem, crl.pem), read by
// `insel forward --profile DIR` and `profile = "DIR"` in config files.
//
// The directory is created 0700. An existing one is used only if group and
// others have no access to it (a profile holds a key and the CA that every
// connection trusts), and its mode is never changed: it may be shared.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { loadProfile } from './profile.js';
import { ensureDir, PRIVATE_DIR_MODE, writeFileAtomic } from './store.js';

export interface ExportResult {
  dir: string;
  files: string[];
}

export function exportProfile(opts: { dir: string; name: string; out: string; force?: boolean }): ExportResult {
  const p = loadProfile(opts.dir, opts.name);
  if (!ensureDir(opts.out, PRIVATE_DIR_MODE)) checkPrivate(opts.out);
  const force = opts.force === true;
  const files: [string, string, number][] = [
    ['cert.pem', p.cert, 0o644],
    ['key.pem', p.key, 0o600],
    ['ca.pem', p.ca, 0o644],
  ];
  if (p.crl !== undefined) files.push(['crl.pem', p.crl, 0o644]);
  for (const [name, content, mode] of files) writeFileAtomic(join(opts.out, name), content, { mode, force });
  return { dir: opts.out, files: files.map(([n]) => n) };
}

/** Refuses an existing --out directory that group or others can enter, read or write. */
function checkPrivate(dir: string): void {
  const st = statSync(dir);
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  if (!st.isDirectory()) throw new UsageError(`--out ${dir} exists and is not a directory; choose a new directory (insel creates it with mode 0700)`, { field: 'out', file: dir });
  if ((st.mode & 0o077) !== 0) {
    throw new UsageError(
      `--out ${dir} exists and group or others can access it (mode ${mode}); a profile holds a private key and the CA every connection trusts, so its directory must be yours alone: choose a new directory (insel creates it with mode 0700), or make this one private yourself (chmod 700 ${dir})`,
      { field: 'out', file: dir },
    );
  }
}
