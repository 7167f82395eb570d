// A user's profile dir (~/.insel, or --profile): the identity (cert.pem,
// key.pem 0600, ca.pem, crl.pem) plus site.json, which says which site the
// user belongs to and where its gateway is: {"site": "a", "gateway": "host:port"}.
// `insel login` writes it; services, open and run read it.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../config/errors.js';
import { profileCrlFile, profileFiles, readIdentityFiles } from '../../config/identity.js';
import { ioReason } from '../../config/toml.js';
import { isValidName } from '../../pki/identity.js';
import type { IdentityPem } from '../../pki/profile.js';
import { PUBLIC_MODE, writeFileAtomic } from '../../pki/store.js';
import { parseHostPort, type HostPort } from '../../net/host-port.js';

export const SITE_JSON = 'site.json';

export interface SiteJson {
  site: string;
  gateway: string;
}

export interface UserProfile {
  dir: string;
  identity: IdentityPem;
  /** where a CRL refreshed from the gateway is kept */
  crlFile: string;
  /** ca.pem: the trust bundle, refreshed from the gateway (CA rollover) */
  caFile: string;
  site: string;
  gateway: HostPort;
}

const siteJsonSchema = z.object({ site: z.string().refine(isValidName), gateway: z.string() });

/** ~/.insel unless --profile says otherwise. */
export function profileDir(given: string | undefined): string {
  return resolve(given ?? join(homedir(), '.insel'));
}

export function writeSiteJson(dir: string, s: SiteJson): void {
  writeFileAtomic(join(dir, SITE_JSON), `${JSON.stringify(s, null, 2)}\n`, { mode: PUBLIC_MODE, force: true });
}

/** Reads the profile; a missing or broken site.json says to run insel login. */
export function loadUserProfile(dir: string): UserProfile {
  const file = join(dir, SITE_JSON);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file}: ${err instanceof SyntaxError ? 'not JSON' : ioReason(err)}; log in first: insel login --site HOST:PORT --code CODE${dir === profileDir(undefined) ? '' : ` --profile ${dir}`}`, { file, cause: err });
  }
  const parsed = siteJsonSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${file}: must be {"site": "NAME", "gateway": "HOST:PORT"}; run insel login again`, { file });
  const files = profileFiles(dir);
  return {
    dir,
    identity: readIdentityFiles(files, `profile ${dir}`),
    crlFile: profileCrlFile(dir),
    caFile: files.caFile,
    site: parsed.data.site,
    gateway: parseHostPort(parsed.data.gateway, `${file}: gateway`),
  };
}
