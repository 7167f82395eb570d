// A profile directory: what one end needs to run, as plain files another
// machine can take (cert.pem, key.pem 0600, ca.pem, crl.pem), read by
// `insel forward --profile DIR` and `profile = "DIR"` in config files.
import { join } from 'node:path';
import { loadProfile } from './profile.js';
import { ensureDir, writeFileAtomic } from './store.js';

export interface ExportResult {
  dir: string;
  files: string[];
}

export function exportProfile(opts: { dir: string; name: string; out: string; force?: boolean }): ExportResult {
  const p = loadProfile(opts.dir, opts.name);
  ensureDir(opts.out, 0o700);
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
