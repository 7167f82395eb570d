import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { createConnection, createServer, type Socket } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TunnelError } from '../errors.js';
import { StatusServer, readStatus } from './status-socket.js';
import type { StatusSnapshot } from './status-snapshot.js';
import { SAMPLE } from './status-testing.js';

const dir = mkdtempSync(join(tmpdir(), 'insel-status-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = () => join(dir, `s${n++}`, 'tunnel-test.sock');

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await sleep(5);
  assert.ok(cond(), 'condition not reached');
}

/** Connects and collects what the daemon sends until it closes. */
function exchange(path: string, send?: string): Promise<{ data: string; socket: Socket }> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    let data = '';
    socket.on('connect', () => send !== undefined && socket.write(send));
    socket.on('data', (d) => (data += d.toString()));
    socket.on('error', () => undefined); // a cut connection may fail our write (EPIPE): what arrived is the result
    socket.on('close', () => resolve({ data, socket }));
  });
}

describe('status socket', () => {
  it('answers status with the snapshot; dir 0700 and socket 0600 when we create them', async () => {
    const path = sockPath();
    const server = await StatusServer.listen(path, () => SAMPLE);
    try {
      assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.deepEqual(await readStatus(path), SAMPLE);
      assert.deepEqual(SAMPLE.clients[0], {
        identity: 'alice@acme',
        virtual: { v4: '10.8.0.2', v6: 'fd00:8::1000' },
        real: '192.0.2.7:40000',
        rung: 'udp',
        mtu: 1420,
        bytesIn: 1536,
        bytesOut: 3000,
        lastHandshake: '2026-12-03T12:00:00.000Z',
        keyEpoch: 2,
      });
      const other = await exchange(path, 'help\n');
      assert.equal(other.data, '{"error":"unknown request; send \\"status\\""}\n');
    } finally {
      await server.close();
    }
  });

  it('leaves an existing directory alone', async () => {
    const d = join(dir, `shared${n++}`);
    mkdirSync(d, { mode: 0o755 });
    const server = await StatusServer.listen(join(d, 'x.sock'), () => SAMPLE);
    await server.close();
    assert.equal(statSync(d).mode & 0o777, 0o755);
  });

  it('replaces a stale socket file, refuses one that is served and a file that is no socket', async () => {
    const path = sockPath();
    // a socket file left behind by a daemon killed with SIGKILL
    mkdirSync(join(path, '..'), { mode: 0o700 });
    const killed = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.equal(killed.signal, 'SIGKILL');
    assert.ok(existsSync(path));
    const server = await StatusServer.listen(path, () => SAMPLE);
    try {
      assert.deepEqual(await readStatus(path), SAMPLE);
      await assert.rejects(StatusServer.listen(path, () => SAMPLE), (e: Error) => e instanceof TunnelError && /another insel tunnel serves status at/.test(e.message));
    } finally {
      await server.close();
    }
    const plain = sockPath();
    mkdirSync(join(plain, '..'));
    writeFileSync(plain, 'x');
    await assert.rejects(StatusServer.listen(plain, () => SAMPLE), /exists and is not a socket/);
  });

  it('cuts connections beyond the cap, slow ones at the deadline, and overlong requests', async () => {
    const path = sockPath();
    const server = await StatusServer.listen(path, () => SAMPLE, { maxConnections: 3, timeoutMs: 1000, maxRequest: 64 });
    try {
      const idle = [1, 2, 3].map(() => exchange(path)); // they send nothing
      await until(() => server.active === 3);
      const extra = await exchange(path, 'status\n');
      assert.equal(extra.data, '', 'the fourth is closed without an answer');
      for (const r of await Promise.all(idle)) assert.equal(r.data, '', 'the silent ones are cut at the deadline');
      await until(() => server.active === 0);
      const long = await exchange(path, 'x'.repeat(100));
      assert.equal(long.data, '{"error":"request longer than 64 bytes"}\n');
      const drip = createConnection(path);
      let got = '';
      drip.on('data', (d) => (got += d.toString()));
      drip.on('error', () => undefined); // cut while we write: ECONNRESET/EPIPE
      const closed = new Promise((r) => drip.on('close', r));
      const dripper = setInterval(() => drip.writable && drip.write('s'), 20); // one byte at a time, never a newline
      await closed;
      clearInterval(dripper);
      assert.equal(got, '');
      assert.deepEqual(await readStatus(path), SAMPLE, 'still serving');
    } finally {
      await server.close();
    }
  });

  it('readStatus says why it failed', async () => {
    await assert.rejects(readStatus(join(dir, 'none.sock')), (e: Error) => e instanceof TunnelError && e.code === 'INSEL_TUNNEL_STATUS' && /no insel tunnel is running here \(ENOENT\)/.test(e.message));
    const path = sockPath();
    mkdirSync(join(path, '..'));
    const liar = createServer((s) => s.end('{"error":"busy"}\n')).listen(path);
    await new Promise((r) => liar.once('listening', r));
    await assert.rejects(readStatus(path), /the daemon says: busy/);
    liar.close();
    const mute = createServer(() => undefined).listen(path + '2');
    await new Promise((r) => mute.once('listening', r));
    await assert.rejects(readStatus(path + '2', 200), /no answer within 0.2 s/);
    mute.close();
  });
});

describe('status socket, fuzzed requests', () => {
  it('any bytes in any chunks: the snapshot, an error line or nothing; the server keeps serving', async () => {
    const path = sockPath();
    const server = await StatusServer.listen(path, () => SAMPLE, { timeoutMs: 50 }); // most inputs have no newline: they end at the deadline
    const snapshotLine = `${JSON.stringify(SAMPLE)}\n`;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.constantFrom(Buffer.from('status'), Buffer.from('\n'), Buffer.from('status\n'))), { maxLength: 12 }), async (chunks) => {
          const reply = await new Promise<string>((resolve) => {
            const socket = createConnection(path);
            let data = '';
            socket.on('connect', () => {
              for (const c of chunks) if (socket.writable) socket.write(c);
            });
            socket.on('data', (d) => (data += d.toString()));
            socket.on('error', () => undefined);
            socket.on('close', () => resolve(data));
          });
          assert.ok(reply === '' || reply === snapshotLine || /^\{"error":"[^\n]*"\}\n$/.test(reply), reply.slice(0, 200));
        }),
        { numRuns: 100 },
      );
      // still serving (a few tries: under load an answer may miss the short deadline)
      let answer: StatusSnapshot | undefined;
      for (let i = 0; i < 20 && answer === undefined; i++) answer = await readStatus(path).catch(() => undefined);
      assert.deepEqual(answer, SAMPLE);
    } finally {
      await server.close();
    }
  });
});
