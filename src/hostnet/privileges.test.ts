// dropPrivileges in child processes (it cannot be undone in this one):
// the ids and groups after the drop, capabilities gone, clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const root = process.getuid?.() === 0;
const skip = root ? undefined : process.env['CI'] === 'true' ? undefined : 'dropping privileges needs root';
const mod = new URL('./privileges.js', import.meta.url).href;

/** Runs `call` (an expression using `m`, the module) in a child; resolves what it printed as JSON, or its error message. */
function inChild(call: string): { out?: unknown; err?: string } {
  const code = `const m = await import(${JSON.stringify(mod)}); const fs = await import('node:fs');
try { ${call}; const caps = /CapEff:\\s*(\\w+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
  console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), caps })); }
catch (e) { console.log(JSON.stringify({ err: e.name + ': ' + e.message })); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  const parsed = JSON.parse(r.stdout) as Record<string, unknown>;
  return typeof parsed['err'] === 'string' ? { err: parsed['err'] } : { out: parsed };
}

test('user and group: uid, gid and the only group change; no capability is left', { skip }, () => {
  assert.deepEqual(inChild(`m.dropPrivileges('nobody', 'nogroup')`).out, { uid: 65534, gid: 65534, groups: [65534], caps: '0000000000000000' });
});

test("user alone: the user's primary group", { skip }, () => {
  const r = inChild(`m.dropPrivileges('nobody', undefined)`).out as { uid: number; gid: number };
  assert.equal(r.uid, 65534);
  assert.equal(r.gid, Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim()));
});

test('group alone keeps the user', { skip }, () => {
  assert.deepEqual(inChild(`m.dropPrivileges(undefined, 'nogroup')`).out, { uid: 0, gid: 65534, groups: [65534], caps: (inChild('0').out as { caps: string }).caps });
});

test('unknown user or group, and a second drop, say what failed', { skip }, () => {
  assert.match(inChild(`m.dropPrivileges('no-such-user-i14', undefined)`).err ?? '', /HostnetError: no such user: "no-such-user-i14"; check `user`/);
  assert.match(inChild(`m.dropPrivileges('nobody', 'no-such-group-i14')`).err ?? '', /HostnetError: cannot change to group "no-such-group-i14".*check `group`/);
  assert.match(inChild(`m.dropPrivileges('nobody', 'nogroup'); m.dropPrivileges('nobody', 'nogroup')`).err ?? '', /needs a start as root \(we run as uid 65534\)/);
});
