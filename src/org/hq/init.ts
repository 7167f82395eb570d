// `insel hq init`: a new HQ directory. DIR/pki is a new root CA (initCa) or
// a copy of an existing `insel pki` directory (--adopt: its certificates
// stay valid); HQ gets its own certificate (role hq, with the host names
// sites dial); hq.toml is written; the registry is created (migrations) and
// seeded with the trust bundle and the CRL.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { initCa } from '../../pki/ca.js';
import { issueCert } from '../../pki/issue.js';
import { KEY_MODE, pkiPaths, readIndex, writeFileAtomic } from '../../pki/store.js';
import { HQ_CONFIG, starterHqConfig } from './config.js';
import { SETTING_CA } from './context.js';
import { HqError } from './errors.js';
import { signOrgCrl } from './org-crl.js';
import { HQ_NAME, pkiDirOf, trustBundle } from './org-pki.js';
import { openHq } from './open.js';

export interface InitHqOptions {
  dir: string;
  /** required unless adopting (then it must equal the adopted PKI's org, if given) */
  org?: string;
  adopt?: string;
  /** DNS names / IPs sites reach HQ by, put in HQ's certificate */
  hosts: string[];
  listen?: string;
  database?: string;
}

export async function initHq(o: InitHqOptions, log: Logger): Promise<{ dir: string; org: string; config: string }> {
  const dir = resolve(o.dir);
  const config = join(dir, HQ_CONFIG);
  if (existsSync(config)) throw new HqError(`${config} exists: ${dir} is an HQ directory already; choose another --dir`, { file: config });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pkiDir = pkiDirOf(dir);
  let org: string;
  if (o.adopt !== undefined) {
    const from = resolve(o.adopt);
    org = readIndex(pkiPaths(from)).org;
    if (o.org !== undefined && o.org !== org) throw new HqError(`--org ${o.org} differs from the adopted PKI's org ${org}; leave --org out`, { field: 'org' });
    cpSync(from, pkiDir, { recursive: true, errorOnExist: true, force: false, preserveTimestamps: true });
  } else {
    if (o.org === undefined) throw new HqError('--org NAME is required (or --adopt PKI_DIR to take over an insel pki directory)', { field: 'org' });
    org = o.org;
    await initCa({ dir: pkiDir, org });
  }
  if (!existsSync(pkiPaths(pkiDir).cert(HQ_NAME))) await issueCert({ dir: pkiDir, role: 'hq', name: HQ_NAME, hosts: o.hosts });
  // 0600: `database` may be a postgres:// URL with its password.
  writeFileAtomic(config, starterHqConfig(org, o.listen ?? '0.0.0.0:7443', o.database ?? 'sqlite'), { mode: KEY_MODE, force: false });
  const { ctx } = await openHq(dir, log);
  try {
    await ctx.registry.setSetting(SETTING_CA, trustBundle(pkiDir));
    await signOrgCrl(ctx);
  } finally {
    await ctx.registry.close();
  }
  return { dir, org, config };
}
