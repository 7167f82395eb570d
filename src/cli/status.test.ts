import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StatusServer } from '../tunnel/status/status-socket.js';
import { formatStatusText } from '../tunnel/status/status-text.js';
import { SAMPLE } from '../tunnel/status/status-testing.js';
import { findStatusSocket } from './status.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'insel-statuscli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `insel status ...` asynchronously: the status server lives in this process. */
function insel(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, 'status', ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('insel status', () => {
  it('prints the table, or the JSON with --json, from --socket', async () => {
    const path = join(dir, 'run', 'tunnel-server.sock');
    const server = await StatusServer.listen(path, () => SAMPLE);
    try {
      const table = await insel('--socket', path);
      assert.equal(table.status, 0, table.stderr);
      assert.equal(table.stdout, formatStatusText(SAMPLE));
      const json = await insel('--json', '--socket', path);
      assert.equal(json.status, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), SAMPLE);
    } finally {
      await server.close();
    }
    const gone = await insel('--socket', path);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /^insel: .*tunnel-server\.sock: no insel tunnel is running here \((ENOENT|ECONNREFUSED)\); is the path right\?\n$/);
  });

  it('finds the only tunnel-*.sock, else asks for --socket', () => {
    const d = join(dir, 'find');
    mkdirSync(d);
    assert.throws(() => findStatusSocket(d), /^UsageError: no tunnel status socket in .*find: is insel tunnel running\?/);
    assert.throws(() => findStatusSocket(join(dir, 'nonexistent')), /no tunnel status socket/);
    writeFileSync(join(d, 'tunnel-a.sock'), '');
    writeFileSync(join(d, 'other.sock'), '');
    assert.equal(findStatusSocket(d), join(d, 'tunnel-a.sock'));
    writeFileSync(join(d, 'tunnel-b.sock'), '');
    assert.throws(() => findStatusSocket(d), /several tunnels run here \(tunnel-a\.sock, tunnel-b\.sock in .*\): choose one with --socket PATH/);
  });
});
