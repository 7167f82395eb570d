// `insel hq init --site NAME` and `insel hq run` with that [site] as real
// processes: HQ starts its own LAN's site gateway, which registers over
// loopback (insel hq status shows it online), and SIGTERM stops both.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { insel, type Child } from '../forward/testing.js';

const work = mkdtempSync(join(tmpdir(), 'insel-hq-site-cli-'));
const children: Child[] = [];
after(async () => {
  for (const c of children) await c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** Runs insel to its end: its exit status and output. */
async function run(...args: string[]): Promise<{ code: number | null; out: string }> {
  const c = insel(args);
  children.push(c);
  const code = await c.exited;
  return { code, out: [...c.out, ...c.err].join('\n') };
}

async function initWithSite(dir: string): Promise<void> {
  const r = await run('hq', 'init', '--dir', dir, '--org', 'Acme', '--host', '127.0.0.1', '--listen', '127.0.0.1:0', '--site', 'main', '--site-listen', '127.0.0.1:0');
  assert.equal(r.code, 0, r.out);
}

test('hq init --site writes [site]; hq run starts that site gateway, registered at HQ; SIGTERM stops the site, then HQ', async () => {
  const dir = join(work, 'hq');
  await initWithSite(dir);
  assert.match(readFileSync(join(dir, 'hq.toml'), 'utf8'), /\n\[site\]\nname = "main"\nlisten = "127\.0\.0\.1:0"\n/);

  const hq = insel(['hq', 'run', '--dir', dir]);
  children.push(hq);
  await hq.line(/site gateway listening/, 20_000);
  assert.equal(statSync(join(dir, 'site', 'identity', 'key.pem')).mode & 0o777, 0o600);
  const status = await run('hq', 'status', '--dir', dir);
  assert.match(status.out, /main {2}online {2}public 127\.0\.0\.1:\d+/);

  hq.proc.kill('SIGTERM');
  assert.equal(await hq.exited, 0, hq.out.join('\n'));
  const log = hq.out.join('\n');
  assert.ok(log.indexOf('HQ stopping') < log.lastIndexOf('the site is stopping'), log);
});

test('hq run with a bad [site] key fails naming hq.toml and the key', async () => {
  const dir = join(work, 'bad');
  await initWithSite(dir);
  const toml = join(dir, 'hq.toml');
  writeFileSync(toml, readFileSync(toml, 'utf8').replace('[site]\nname = "main"\n', '[site]\nname = "main"\nservice = 3\n'));
  const r = await run('hq', 'run', '--dir', dir);
  assert.notEqual(r.code, 0);
  assert.ok(r.out.includes(`${toml}: site.service: `), r.out);
});
