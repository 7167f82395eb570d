// `insel hq init --site NAME` and `insel hq run` with that [site] as real
// processes: HQ starts its own LAN's site gateway, which registers over
// loopback (insel hq status shows it online), and SIGTERM stops both.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CLI } from '../forward/testing.js';
import { waitUntil } from '../net/testing.js';

const work = mkdtempSync(join(tmpdir(), 'insel-hq-site-cli-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function insel(...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `insel ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('hq init --site writes [site]; hq run starts that site gateway, registered at HQ; SIGTERM stops both', async () => {
  const dir = join(work, 'hq');
  insel('hq', 'init', '--dir', dir, '--org', 'Acme', '--host', '127.0.0.1', '--listen', '127.0.0.1:0', '--site', 'main', '--site-listen', '127.0.0.1:0');
  assert.match(readFileSync(join(dir, 'hq.toml'), 'utf8'), /\n\[site\]\nname = "main"\nlisten = "127\.0\.0\.1:0"\n/);

  const run = spawn(process.execPath, [CLI, 'hq', 'run', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(run);
  let log = '';
  run.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  run.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<number | null>((r) => run.once('exit', (code) => r(code)));
  assert.ok(await waitUntil(() => log.includes('site gateway listening'), 20_000), log);
  assert.equal(statSync(join(dir, 'site', 'identity', 'key.pem')).mode & 0o777, 0o600);
  assert.match(insel('hq', 'status', '--dir', dir), /main {2}online {2}public 127\.0\.0\.1:\d+/);

  run.kill('SIGTERM');
  assert.equal(await exited, 0, log);
  assert.ok(log.indexOf('HQ stopping') < log.lastIndexOf('the site is stopping'), log);
});

test('hq run with a bad [site] key fails naming hq.toml and the key', () => {
  const dir = join(work, 'bad');
  insel('hq', 'init', '--dir', dir, '--org', 'Acme', '--host', '127.0.0.1', '--listen', '127.0.0.1:0', '--site', 'main', '--site-listen', '127.0.0.1:0');
  const toml = join(dir, 'hq.toml');
  writeFileSync(toml, readFileSync(toml, 'utf8').replace('[site]\nname = "main"\n', '[site]\nname = "main"\nservice = 3\n'));
  const r = spawnSync(process.execPath, [CLI, 'hq', 'run', '--dir', dir], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`${toml.replace(/[.]/g, '\\.')}: site\\.service: `), r.stderr);
});
