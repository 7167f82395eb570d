// `insel hq` and `insel site enroll` as real processes on loopback: init,
// run, site add (the printed command enrolls the site), status, and a
// revocation made by another process reaching a gateway subscribed at the
// running HQ (through the SQLite change table) within a second of the
// command finishing; SIGTERM stops HQ cleanly; retiring a root that still
// signs a site's only certificate is refused without --force.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { waitUntil } from '../net/testing.js';
import type { OrgEventMessage } from '../org/wire/hq-api.js';
import { connectHq } from '../org/wire/hq-link.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'insel-hq-cli-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function insel(...args: string[]): string {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `insel ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('init, run, site add, site enroll, status; a revoke from another process reaches a subscribed gateway', async () => {
  const hqDir = join(work, 'hq');
  const port = await freePort();
  assert.match(insel('hq', 'init', '--dir', hqDir, '--org', 'Acme', '--host', '127.0.0.1', '--listen', `127.0.0.1:${port}`), /created HQ of org "Acme"/);

  const run = spawn(process.execPath, [MAIN, 'hq', 'run', '--dir', hqDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(run);
  let log = '';
  run.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  run.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  assert.ok(await waitUntil(() => log.includes('HQ listening'), 20_000), log);

  const codeOf = (out: string) => /^  (insel-\S+)$/m.exec(out)![1]!;
  const added = insel('hq', 'site', 'add', 'branch', '--dir', hqDir, '--groups', 'eng,ops');
  const command = /^  insel site enroll (.*)$/m.exec(added)![1]!;
  assert.match(command, new RegExp(`^--hq 127\\.0\\.0\\.1:${port} --code ${codeOf(added)} --dir SITE_DIR$`));
  const siteDir = join(work, 'branch');
  const enrolled = insel('site', 'enroll', ...command.replace('SITE_DIR', siteDir).split(' '));
  assert.match(enrolled, /enrolled site branch of org "Acme"/);
  assert.equal(statSync(join(siteDir, 'identity', 'key.pem')).mode & 0o777, 0o600);
  assert.match(readFileSync(join(siteDir, 'site.toml'), 'utf8'), new RegExp(`name = "branch"\\nhq = "127\\.0\\.0\\.1:${port}"`));

  const other = insel('hq', 'site', 'add', 'other', '--dir', hqDir);
  insel('site', 'enroll', '--hq', `127.0.0.1:${port}`, '--code', codeOf(other), '--dir', join(work, 'other'));

  const link = connectHq({ hq: { host: '127.0.0.1', port }, identity: readIdentityFiles(profileFiles(join(siteDir, 'identity'))) });
  try {
    const got: OrgEventMessage[] = [];
    link.onEvent((e) => got.push(e));
    await link.register({ site: 'branch', public: '127.0.0.1:17444', services: [{ name: 'web', proto: 'tcp', groups: ['eng'] }] });
    assert.match(insel('hq', 'status', '--dir', hqDir), /branch {2}online {2}public 127\.0\.0\.1:17444/);

    assert.match(insel('hq', 'revoke', 'site', 'other', '--dir', hqDir, '--reason', 'stolen'), /revoked site other: 1 certificate/);
    const done = Date.now();
    assert.ok(await waitUntil(() => got.some((e) => e.kind === 'revoked'), 5000), log);
    assert.ok(Date.now() - done < 1000, `the revocation arrived ${Date.now() - done} ms after the command finished`);
    const e = got.find((x) => x.kind === 'revoked') as Extract<OrgEventMessage, { kind: 'revoked' }>;
    assert.deepEqual([e.names, e.reason], [[{ role: 'site', name: 'other' }], 'stolen']);
  } finally {
    link.close();
  }
  run.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => run.once('exit', (c) => r(c)));
  assert.equal(code, 0);

  // Retiring the old root while branch still holds only a certificate of it is refused, naming branch; --force does it.
  assert.match(insel('hq', 'ca', 'rollover', '--dir', hqDir), /root CA 2 .*signs from now on/);
  const refused = spawnSync(process.execPath, [MAIN, 'hq', 'ca', 'retire', '1', '--dir', hqDir], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /^insel: root CA 1 still signs the only valid certificate of 1 identity: site:branch; renew them first .* or add --force/);
  assert.match(insel('hq', 'ca', 'retire', '1', '--dir', hqDir, '--force'), /root CA 1 retired; trusted roots now: 2/);
});

test('bad input to the commands is one clear line', () => {
  const r = spawnSync(process.execPath, [MAIN, 'site', 'enroll', '--hq', '127.0.0.1:1', '--code', 'insel-nope', '--dir', join(work, 'x')], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^insel: this is not an enrollment code: .*\n$/);
  const missing = spawnSync(process.execPath, [MAIN, 'hq', 'run', '--dir', join(work, 'nowhere')], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^insel: cannot read the HQ config .*hq\.toml: no such file\n$/);
});
