import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StatusFileWriter } from './status-file.js';
import { formatStatusText } from './status-text.js';
import { SAMPLE } from './status-testing.js';

const dir = mkdtempSync(join(tmpdir(), 'insel-statusfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('status FILE', () => {
  it('writes the text at start and again every interval, atomically, mode 0600', async () => {
    const file = join(dir, 'status.log');
    let calls = 0;
    const w = new StatusFileWriter(file, 20, () => ({ ...SAMPLE, device: `insel${calls++}` }));
    try {
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(readFileSync(file, 'utf8'), formatStatusText({ ...SAMPLE, device: 'insel0' }));
      for (let i = 0; i < 500 && calls < 3; i++) await sleep(10);
      assert.ok(calls >= 3);
      assert.match(readFileSync(file, 'utf8'), /^insel tunnel server on insel\d+ /);
      assert.deepEqual(readdirSync(dir), ['status.log'], 'no temporary files left');
    } finally {
      w.close();
    }
  });

  it('warns once while writing fails', () => {
    const warnings: string[] = [];
    const w = new StatusFileWriter(join(dir, 'missing-dir', 'status.log'), 60_000, () => SAMPLE, (m) => warnings.push(m));
    w.write();
    w.close();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^cannot write the status file .*missing-dir\/status\.log: ENOENT/);
  });

  it('formats one aligned line per client', () => {
    assert.equal(
      formatStatusText(SAMPLE),
      [
        'insel tunnel server on insel0 (udp 1194, tcp 443) at 2026-12-03T12:30:00.000Z: 2 clients',
        'IDENTITY    VIRTUAL                REAL             RUNG  MTU   IN       OUT      HANDSHAKE                 EPOCH',
        'alice@acme  10.8.0.2,fd00:8::1000  192.0.2.7:40000  udp   1420  1.5 KiB  2.9 KiB  2026-12-03T12:00:00.000Z  2',
        'bob@acme    10.8.0.3               tcp              tcp   1420  0 B      0 B      -                         -1',
        '',
      ].join('\n'),
    );
    assert.equal(formatStatusText({ ...SAMPLE, clients: [] }), 'insel tunnel server on insel0 (udp 1194, tcp 443) at 2026-12-03T12:30:00.000Z: 0 clients\n');
    const evil = formatStatusText({ ...SAMPLE, clients: [{ ...SAMPLE.clients[0]!, identity: 'x\u001b[2Jy', rung: 'tcp', rungWhy: 'no UDP reply within 3 s' }] });
    assert.match(evil, /x\?\[2Jy .* tcp \(no UDP reply within 3 s\) /);
  });
});
