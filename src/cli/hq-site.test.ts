// `insel hq init --site NAME` and `insel hq run` with that [site] as real
// processes: HQ starts its own LAN's site gateway, which registers over
// loopback (insel hq status shows it online), and SIGTERM stops both.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { insel, type Child } from '../forward/testing.js';
import { freePort } from '../forward/tunnel-testing.js';

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

async function initWithSite(dir: string, hqPort = 0, sitePort = 0): Promise<void> {
  const r = await run('hq', 'init', '--dir', dir, '--org', 'Acme', '--host', '127.0.0.1', '--listen', `127.0.0.1:${hqPort}`, '--site', 'main', '--site-listen', `127.0.0.1:${sitePort}`);
  assert.equal(r.code, 0, r.out);
}

test('hq init --site writes [site]; hq run starts that site gateway, registered at HQ; its users enroll; SIGTERM stops the site, then HQ', async () => {
  const dir = join(work, 'hq');
  const sitePort = await freePort();
  await initWithSite(dir, await freePort(), sitePort);
  assert.match(readFileSync(join(dir, 'hq.toml'), 'utf8'), new RegExp(`\\n\\[site\\]\\nname = "main"\\nlisten = "127\\.0\\.0\\.1:${sitePort}"\\n`));

  const hq = insel(['hq', 'run', '--dir', dir]);
  children.push(hq);
  await hq.line(/site gateway listening/, 20_000);
  assert.equal(statSync(join(dir, 'site', 'identity', 'key.pem')).mode & 0o777, 0o600);
  const status = await run('hq', 'status', '--dir', dir);
  assert.match(status.out, new RegExp(`main {2}online {2}public 127\\.0\\.0\\.1:${sitePort}`));

  const add = await run('site', 'user', 'add', 'alice', '--dir', dir);
  assert.equal(add.code, 0, add.out);
  const loginArgs = /insel (login --site \S+ --code \S+)/.exec(add.out)?.[1];
  assert.equal(loginArgs?.split(' ')[2], `127.0.0.1:${sitePort}`, add.out);
  const login = await run(...loginArgs!.split(' '), '--profile', join(work, 'alice'));
  assert.equal(login.code, 0, login.out);
  assert.match(login.out, /logged in as alice of site main/);

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
