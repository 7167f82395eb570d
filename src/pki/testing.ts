// A throwaway PKI for tests and benches, in a temp directory (org "Test"):
//
//   srv     server                   alice   user
//   hq      hq                       carol   client
//   branch  site (a CA)              bob     user, issued by site CA branch
//   mallory user, revoked            old     user, expired yesterday
//
// and a foreign CA (org "Other") with user eve. Nothing is cached between
// processes; building it all takes well under a second.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa } from './ca.js';
import { revoke } from './crl.js';
import { issueCert } from './issue.js';
import { loadProfile, type IdentityPem } from './profile.js';
import { pkiPaths } from './store.js';
import { loadTrust, type Trust } from './trust.js';

export interface TestPki {
  dir: string;
  trust: Trust;
  profile(name: string): Required<IdentityPem>;
  foreign: { cert: string; key: string; ca: string };
  cleanup(): void;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export async function makeTestPki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'insel-pki-'));
  const foreignDir = mkdtempSync(join(tmpdir(), 'insel-pki-foreign-'));
  try {
    await initCa({ dir, org: 'Test' });
    for (const [name, role] of [
      ['srv', 'server'],
      ['hq', 'hq'],
      ['alice', 'user'],
      ['branch', 'site'],
      ['carol', 'client'],
      ['mallory', 'user'],
    ] as const) {
      await issueCert({ dir, role, name, ...(role === 'server' ? { hosts: ['127.0.0.1', 'localhost', '::1'] } : {}) });
    }
    await issueCert({ dir, role: 'user', name: 'bob', ca: 'branch' });
    const now = Date.now();
    await issueCert({ dir, role: 'user', name: 'old', notBefore: new Date(now - 10 * DAY_MS), notAfter: new Date(now - DAY_MS) });
    await revoke({ dir, nameOrSerial: 'mallory', reason: 'keyCompromise' });

    await initCa({ dir: foreignDir, org: 'Other' });
    await issueCert({ dir: foreignDir, role: 'user', name: 'eve' });
    const eve = loadProfile(foreignDir, 'eve');
    const paths = pkiPaths(dir);
    return {
      dir,
      trust: loadTrust({ caFile: paths.caCert, crlFile: paths.crl }),
      profile: (name) => loadProfile(dir, name) as Required<IdentityPem>,
      foreign: { cert: eve.cert, key: eve.key, ca: eve.ca },
      cleanup() {
        rmSync(dir, { recursive: true, force: true });
        rmSync(foreignDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(foreignDir, { recursive: true, force: true });
    throw err;
  }
}
