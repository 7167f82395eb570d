// registerTunnelPasswd on a bare `tunnel` command (main.ts wires the real one).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { passwordCheck } from '../tunnel/auth/auth-user-pass.js';

const dir = mkdtempSync(join(tmpdir(), 'insel-passwd-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MODULE = new URL('./tunnel-passwd.js', import.meta.url).href;
const ERRORS = new URL('../errors.js', import.meta.url).href;
const PROGRAM = `
import { Command } from 'commander';
import { registerTunnelPasswd } from '${MODULE}';
import { InselError } from '${ERRORS}';
const program = new Command();
registerTunnelPasswd(program.command('tunnel'));
program.parseAsync(process.argv.slice(1), { from: 'user' }).catch((e) => { process.stderr.write(e instanceof InselError ? 'insel: ' + e.message + '\\n' : String(e)); process.exit(1); });`;
const run = (input: string, ...args: string[]) =>
  spawnSync(process.execPath, ['--input-type=module', '-e', PROGRAM, '--', 'tunnel', 'passwd', ...args], { input, encoding: 'utf8', cwd: process.cwd() });

describe('insel tunnel passwd', () => {
  it('adds and replaces users in a 0600 file the server accepts', async () => {
    const file = join(dir, 'users');
    const r = run('s3cret pass\n', file, 'alice');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `added alice in ${file}\n`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(run('other\n', file, 'bob').stdout, `added bob in ${file}\n`);
    assert.equal(run('changed', file, 'alice').stdout, `replaced alice in ${file}\n`);
    assert.deepEqual(readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')[0]), ['alice', 'bob', '']);
    const check = passwordCheck({ authUsers: file })!;
    const who = { commonName: 'c', ip: '127.0.0.1', port: 1 };
    assert.equal(await check('alice', 'changed', who), undefined);
    assert.equal(await check('alice', 's3cret pass', who), 'wrong username or password');
    assert.equal(await check('bob', 'other', who), undefined);
  });

  it('refuses bad names and empty or overlong passwords, changing nothing', () => {
    const file = join(dir, 'users2');
    for (const [input, name, msg] of [
      ['x\n', 'a:b', 'insel: the username has a ":"; choose another username\n'],
      ['\n', 'alice', 'insel: the password is empty; nothing was changed\n'],
      [`${'p'.repeat(300)}\n`, 'alice', 'insel: the password is longer than 256 bytes; nothing was changed\n'],
    ] as const) {
      const r = run(input, file, name);
      assert.equal(r.status, 1);
      assert.equal(r.stderr, msg);
    }
    assert.throws(() => statSync(file), /ENOENT/);
  });
});
