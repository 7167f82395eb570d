// `insel verify` as a user runs it, on seed 004's static-key server config.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), 'insel-verify-cli-'));
after(() => rmSync(cwd, { recursive: true, force: true }));
const insel = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: 'utf8' });

describe('insel verify', () => {
  it('without --config: one OK/FAIL line per host check, exit 1 only on a FAIL', () => {
    const r = insel('verify');
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => /^(?:OK  |FAIL) ([^:]+):/.exec(l)?.[1]),
      ['tun device', 'CAP_NET_ADMIN', 'ip_forward', 'nft/iptables'],
    );
    assert.equal(r.status, lines.some((l) => l.startsWith('FAIL')) ? 1 : 0);
  });

  it("with seed 004's server.conf: the config, its key and its port; a held port and a loose key FAIL", async () => {
    assert.equal(insel('genkey', '--secret', 'static.key').status, 0);
    const udp = createSocket('udp6');
    udp.bind(0);
    await once(udp, 'listening');
    try {
      const port = udp.address().port;
      writeFileSync(join(cwd, 'server.conf'), `dev tun\nifconfig 10.0.0.1 10.0.0.2\nsecret static.key\ncomp-lzo\nport ${port}\n`);
      const r = insel('verify', '--config', 'server.conf');
      assert.equal(r.status, 1);
      assert.match(r.stdout, /^OK   config server\.conf: static mode, tun/m);
      assert.match(r.stdout, new RegExp(`^OK   key ${join(cwd, 'static.key')}: mode 0600$`, 'm'));
      assert.match(r.stdout, new RegExp(`^FAIL udp port ${port}: in use`, 'm'));

      chmodSync(join(cwd, 'static.key'), 0o644);
      const loose = insel('verify', '--config', 'server.conf');
      assert.equal(loose.status, 1);
      assert.match(loose.stdout, /^FAIL config server\.conf: .*server\.conf:3.*chmod 600/m);
      assert.match(loose.stdout, /^(OK  |FAIL) tun device:/m, 'the host checks still run');
    } finally {
      udp.close();
    }
  });
});
