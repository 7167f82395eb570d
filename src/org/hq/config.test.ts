// hq.toml: defaults, and errors that name the file, the key and the fix;
// `insel hq init --adopt` takes over an insel pki directory whose
// certificates stay valid.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../config/errors.js';
import { initCa } from '../../pki/ca.js';
import { issueCert } from '../../pki/issue.js';
import { hqConfigFromText, loadHqConfig } from './config.js';
import { HqError } from './errors.js';
import { initHq } from './init.js';
import { pkiDirOf } from './org-pki.js';
import { silentLog } from './testing.js';

const work = mkdtempSync(join(tmpdir(), 'insel-hq-config-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('defaults: listen 0.0.0.0:7443, sqlite, heartbeat 5s, the gateway unauthenticated limits', () => {
  const c = hqConfigFromText('org = "Acme"\n', '/x/hq.toml');
  assert.deepEqual([c.listen, c.database, c.heartbeatMs, c.unauth, c.dir], [{ host: '0.0.0.0', port: 7443 }, 'sqlite', 5000, { perSource: 16, total: 128, timeoutMs: 10_000 }, '/x']);
  const s = hqConfigFromText('org = "Acme"\n[site]\nname = "hq-lan"\nlisten = "0.0.0.0:7444"\n', '/x/hq.toml');
  assert.deepEqual(s.site, { name: 'hq-lan', listen: '0.0.0.0:7444' });
});

test('errors name the file, the key and the fix', () => {
  const cases: [string, RegExp][] = [
    ['', /\/x\/hq\.toml: org: missing; must be a string, e\.g\. org = "Example Corp"/],
    ['org = "A"\nlisten = "nope"', /\/x\/hq\.toml: listen "nope": the port is missing; expected HOST:PORT/],
    ['org = "A"\ndatabase = "mysql://x"', /database: .*use "sqlite" .* or a PostgreSQL URL/],
    ['org = "A"\nheartbeat = "5"', /heartbeat: "5" is not a duration/],
    ['org = "A"\nlistne = "x"', /listne: unknown key \(misspelt\?\); known keys: org, listen/],
    ['org = "A"\n[limits]\nunauthenticated_total = 1\nunauthenticated_per_source = 2', /limits\.unauthenticated_total: \(1\) is below/],
    ['org = "A"\n[site]\nname = "../x"', /site\.name: .*A-Z a-z 0-9/],
  ];
  for (const [text, re] of cases) assert.throws(() => hqConfigFromText(text, '/x/hq.toml'), (e: unknown) => e instanceof ConfigError && re.test(e.message), text);
});

test('init --adopt copies an insel pki directory; its org is kept and HQ gets its certificate', async () => {
  const pki = join(work, 'pki');
  await initCa({ dir: pki, org: 'Old Corp' });
  await issueCert({ dir: pki, role: 'user', name: 'alice' });
  const dir = join(work, 'hq');
  await assert.rejects(initHq({ dir: join(work, 'bad'), org: 'Other', adopt: pki, hosts: [] }, silentLog), (e: unknown) => e instanceof HqError && /differs from the adopted PKI's org Old Corp/.test(e.message));
  const r = await initHq({ dir, adopt: pki, hosts: ['hq.example'], listen: '127.0.0.1:0' }, silentLog);
  assert.equal(r.org, 'Old Corp');
  assert.equal(loadHqConfig(dir).org, 'Old Corp');
  assert.ok(existsSync(join(pkiDirOf(dir), 'certs', 'alice.crt')) && existsSync(join(pkiDirOf(dir), 'certs', 'hq.crt')));
  assert.equal(readFileSync(join(pkiDirOf(dir), 'ca.crt'), 'utf8'), readFileSync(join(pki, 'ca.crt'), 'utf8'));
  await assert.rejects(initHq({ dir, org: 'X', hosts: [] }, silentLog), (e: unknown) => e instanceof HqError && /is an HQ directory already/.test(e.message));
});
