// The PKI directory lock: held by a live process it makes a contender fail
// (after its wait) naming the file and the holder; a dead holder's lock is
// taken over; the lock is released when the command ends, even by a throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PkiError } from './errors.js';
import { LOCK_NAME, withPkiLock } from './lock.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'insel-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('holds DIR/lock with its pid while the command runs, and releases it, also on a throw', async (t) => {
  const dir = tempDir(t);
  const lock = join(dir, LOCK_NAME);
  const seen = await withPkiLock(dir, async () => readFileSync(lock, 'utf8'));
  assert.equal(seen, `${process.pid}\n`);
  assert.ok(!existsSync(lock));
  await assert.rejects(withPkiLock(dir, () => Promise.reject(new Error('boom'))), /boom/);
  assert.ok(!existsSync(lock));
});

test('a lock held by a running process: the contender waits, then fails naming the file and the holder', async (t) => {
  const dir = tempDir(t);
  const lock = join(dir, LOCK_NAME);
  writeFileSync(lock, `${process.pid}\n`); // this test runner: alive
  let ran = false;
  await assert.rejects(
    withPkiLock(dir, async () => void (ran = true), 200),
    (err: unknown) => {
      assert.ok(err instanceof PkiError);
      assert.equal(err.code, 'INSEL_PKI_LOCKED');
      assert.equal(err.message, `${lock} is held by process ${process.pid}, another insel pki command on this directory; wait for it to finish and retry (if no such process is running, delete ${lock})`);
      return true;
    },
  );
  assert.equal(ran, false);
  assert.equal(readFileSync(lock, 'utf8'), `${process.pid}\n`, "the holder's lock is left alone");
});

test('a lock released while waiting is taken; a stale lock of a dead pid is taken over', async (t) => {
  const dir = tempDir(t);
  const lock = join(dir, LOCK_NAME);
  writeFileSync(lock, `${process.pid}\n`);
  const timer = setTimeout(() => rmSync(lock), 150);
  t.after(() => clearTimeout(timer));
  assert.equal(await withPkiLock(dir, async () => 'after the wait', 5000), 'after the wait');

  writeFileSync(lock, `${deadPid()}\n`);
  assert.equal(await withPkiLock(dir, async () => readFileSync(lock, 'utf8'), 200), `${process.pid}\n`);
  assert.ok(!existsSync(lock));
});
