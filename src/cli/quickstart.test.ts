import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), 'insel-quickstart-'));
after(() => rmSync(cwd, { recursive: true, force: true }));
const run = () => spawnSync(process.execPath, [MAIN, 'quickstart', '--dir', 'demo'], { cwd, encoding: 'utf8', timeout: 60_000 });

describe('insel quickstart', () => {
  it('creates a demo PKI, echoes over tcp and udp, and exits 0; a second run reuses the PKI', () => {
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^demo PKI in demo: created demo\/ca\.crt, demo\/certs\/demo-server\.crt, demo\/certs\/demo-user\.crt$/);
    assert.match(lines[1]!, /^tcp: demo-user -> server demo-server \(role server, org insel-demo\), server sees user demo-user; .*TLS TLS_/);
    assert.match(lines[2]!, /^udp: .*UDP port \d+, channel \d+; echoed/);
    assert.equal(lines[3], 'quickstart: both transports work');
    assert.equal(statSync(join(cwd, 'demo/private/demo-user.key')).mode & 0o777, 0o600);
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);

    const again = run();
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /^demo PKI in demo: reused the existing CA and certificates\n/);
  });
});
