import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseStaticKey } from '../pki/static-key.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), 'insel-genkey-'));
after(() => rmSync(cwd, { recursive: true, force: true }));
const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'genkey', ...args], { cwd, encoding: 'utf8' });

describe('insel genkey', () => {
  it('writes an OpenVPN static key with mode 0600, and overwrites only with --force', () => {
    const r = run('--secret', 'ta.key');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'wrote a 2048-bit static key to ta.key (mode 0600)\n');
    const file = join(cwd, 'ta.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.equal(parseStaticKey(text, file).length, 256);

    const again = run('--secret', 'ta.key');
    assert.equal(again.status, 1);
    assert.equal(again.stderr, 'insel: ta.key already exists; pass --force to overwrite it\n');
    assert.equal(readFileSync(file, 'utf8'), text);

    assert.equal(run('--secret', 'ta.key', '--force').status, 0);
    assert.notEqual(readFileSync(file, 'utf8'), text);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('requires --secret', () => {
    const r = run();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /required option '--secret <file>' not specified/);
  });
});
