// One mutating `insel pki` command at a time per PKI directory. Each reads
// index.json, changes it and writes it back; two at once would lose one's
// records (a certificate on disk that the index, and so revoke, never knew).
//
// The lock is DIR/lock, created with O_EXCL and holding the holder's pid. A
// contender waits a little, then fails naming the file and the holder. A lock
// whose pid is no longer running (a killed command) is taken over.
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PkiError } from './errors.js';

export const LOCK_NAME = 'lock';
/** how long a command waits for another to finish before it gives up */
export const LOCK_WAIT_MS = 10_000;
const POLL_MS = 50;

/** Runs `fn` holding the lock of PKI directory `dir`. A missing `dir` is not locked: `fn` will say it is missing. */
export async function withPkiLock<T>(dir: string, fn: () => Promise<T>, waitMs = LOCK_WAIT_MS): Promise<T> {
  const file = join(dir, LOCK_NAME);
  const held = await acquire(file, waitMs);
  try {
    return await fn();
  } finally {
    if (held) unlinkSync(file);
  }
}

/** true once the lock is ours; false if `dir` does not exist. Throws PkiError INSEL_PKI_LOCKED after `waitMs`. */
async function acquire(file: string, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const created = tryCreate(file);
    if (created !== 'exists') return created === 'created';
    const holder = holderOf(file);
    if (holder.staleIno !== undefined) {
      takeOver(file, holder.staleIno);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new PkiError(
        'INSEL_PKI_LOCKED',
        `${file} is held by ${holder.pid === undefined ? 'another process' : `process ${holder.pid}`}, another insel pki command on this directory; wait for it to finish and retry (if no such process is running, delete ${file})`,
        { file },
      );
    }
    await sleep(POLL_MS);
  }
}

function tryCreate(file: string): 'created' | 'exists' | 'no-dir' {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return 'exists';
    if (code === 'ENOENT') return 'no-dir';
    throw err;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return 'created';
}

/**
 * Who holds `file`: its pid if readable (a lock just created may not show it
 * yet), and the file's inode if that process is gone (a stale lock).
 */
function holderOf(file: string): { pid?: number; staleIno?: number } {
  let text: string;
  let ino: number;
  try {
    ino = statSync(file).ino;
    text = readFileSync(file, 'utf8');
  } catch {
    return {}; // released meanwhile: try again
  }
  if (!/^[1-9][0-9]*\n$/.test(text)) return {};
  const pid = Number(text.trim());
  return isRunning(pid) ? { pid } : { pid, staleIno: ino };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** Removes a stale lock, unless it was replaced since it was judged stale (another contender took it over). */
function takeOver(file: string, ino: number): void {
  try {
    if (statSync(file).ino === ino) unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
