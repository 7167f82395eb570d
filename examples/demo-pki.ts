// The PKI the examples use: a root CA "Demo" in a temporary directory, a
// server "echo-server" and a user "alice". In real use these come from
// `insel pki init` / `insel pki issue` and `loadProfile(dir, name)`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, issueCert, loadProfile, type IdentityPem } from '../src/pki/index.js';

export async function demoPki(): Promise<{ server: IdentityPem; alice: IdentityPem; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'insel-example-'));
  await initCa({ dir, org: 'Demo' });
  await issueCert({ dir, role: 'server', name: 'echo-server' });
  await issueCert({ dir, role: 'user', name: 'alice' });
  return { server: loadProfile(dir, 'echo-server'), alice: loadProfile(dir, 'alice'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
