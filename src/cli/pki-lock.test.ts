// Concurrent `insel pki issue` runs on one directory (real processes of the
// built CLI): without the lock each read the index, added its record and
// wrote it back, losing the others'. Every certificate written must be in the
// index, and so revocable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const RUNS = 8;
const DEADLINE_MS = 60_000;

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`insel ${args.join(' ')} did not finish within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test(`${RUNS} concurrent insel pki issue runs: every certificate is in the index and revocable`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'insel-pki-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(spawnSync(process.execPath, [MAIN, 'pki', 'init', '--dir', dir, '--org', 'Race']).status, 0);

  const names = Array.from({ length: RUNS }, (_, i) => `u${i}`);
  const results = await Promise.all(names.map((name) => run(['pki', 'issue', '--dir', dir, '--role', 'user', '--name', name])));
  results.forEach((r, i) => assert.equal(r.code, 0, `issue ${names[i]}: ${r.stderr}`));

  const certs = readdirSync(join(dir, 'certs')).map((f) => f.replace(/\.crt$/, '')).sort();
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { certs: { name: string }[] };
  assert.deepEqual(index.certs.map((c) => c.name).sort(), certs, 'the index lists every certificate written');
  assert.deepEqual(certs, names);
  for (const name of names) {
    const r = spawnSync(process.execPath, [MAIN, 'pki', 'revoke', name, '--dir', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^revoked user ${name} `));
  }
  assert.deepEqual(readdirSync(dir).filter((f) => f === 'lock'), [], 'no lock left behind');
});
