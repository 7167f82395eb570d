// End to end with the real Debian vsftpd and real curl:
//
//   curl --control--> relayFtpControl --control--> vsftpd (127.0.0.1)
//     ^  \--data--> passive hook listener --data--> vsftpd data port
//     \---data--- active hook listener <--data--- vsftpd (PORT)
//
// The hooks are plain loopback TCP relays standing in for the tunnel. Every
// transfer mode curl has (EPSV, PASV, EPRT, PORT) lists, downloads and
// uploads 5 MB, checked by sha256; the hooks' byte counts show the data
// went through them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ftpToolsMissing, loopbackDataHooks, runCurl, startTestRelay, startVsftpd, type LoopbackHooks, type TestRelay, type Vsftpd } from './testing.js';

const SIZE = 5 * 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const skip = ftpToolsMissing();

const MODES: { name: string; args: string[]; kind: 'passive' | 'active'; verb: string }[] = [
  { name: 'passive EPSV (default)', args: [], kind: 'passive', verb: '229' },
  { name: 'passive PASV (--disable-epsv)', args: ['--disable-epsv'], kind: 'passive', verb: '227' },
  { name: 'active EPRT (-P -)', args: ['-P', '-'], kind: 'active', verb: 'EPRT' },
  { name: 'active PORT (-P - --disable-eprt)', args: ['-P', '-', '--disable-eprt'], kind: 'active', verb: 'PORT' },
];

describe('the FTP relay between curl and vsftpd', { skip }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  let ftpd: Vsftpd;
  let hooks: LoopbackHooks;
  let relay: TestRelay;
  let work: string;
  let data: Buffer;
  let url: string;

  before(async () => {
    ftpd = await startVsftpd();
    cleanups.push(() => ftpd.close());
    work = await mkdtemp(join(tmpdir(), 'insel-ftp-e2e-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    hooks = loopbackDataHooks();
    cleanups.push(() => hooks.close());
    relay = await startTestRelay({ host: '127.0.0.1', port: ftpd.port }, hooks);
    cleanups.push(() => relay.close());
    data = randomBytes(SIZE);
    await writeFile(join(ftpd.root, 'big.bin'), data, { mode: 0o644 });
    await writeFile(join(work, 'up.bin'), data);
    url = `ftp://127.0.0.1:${relay.port}`;
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  /** Runs curl, expects success, and returns its output and this session's relay result. */
  async function curl(args: string[]) {
    const before = relay.results.length;
    const r = await runCurl(args);
    assert.equal(r.code, 0, `curl ${args.join(' ')} failed: ${r.stderr}`);
    await relay.settle();
    assert.equal(relay.results.length, before + 1);
    return { out: r.stdout, session: relay.results[relay.results.length - 1]! };
  }

  for (const [i, mode] of MODES.entries()) {
    test(`${mode.name}: list, download and upload 5 MB`, async () => {
      const used = () => hooks.stats[mode.kind];
      const start = { used: used(), bytes: hooks.stats.bytes, events: relay.events.length };

      const list = await curl([...mode.args, `${url}/`]);
      assert.match(list.out.toString(), /big\.bin/);
      assert.match(list.out.toString(), /upload/);

      const out = join(work, `down-${i}.bin`);
      const down = await curl([...mode.args, '-o', out, `${url}/big.bin`]);
      assert.equal(sha256(await readFile(out)), sha256(data));

      const up = await curl([...mode.args, '-T', join(work, 'up.bin'), `${url}/upload/up-${i}.bin`]);
      assert.equal(sha256(await readFile(join(ftpd.uploadDir, `up-${i}.bin`))), sha256(data));

      for (const s of [list.session, down.session, up.session]) {
        assert.equal(s.end, 'eof');
        assert.equal(s.refused, 0);
        assert.equal(s[mode.kind], 1, JSON.stringify(s));
      }
      // Three data connections, both 5 MB transfers, all through the hooks.
      assert.equal(used() - start.used, 3);
      assert.ok(hooks.stats.bytes - start.bytes >= 2 * SIZE);
      const mine = relay.events.slice(start.events).filter((e) => e.event === mode.kind);
      assert.equal(mine.length, 3);
      for (const e of mine) assert.equal(mode.kind === 'passive' ? String(e.detail['reply']) : e.detail['verb'], mode.verb);
    });
  }

  test('curl --ssl (TLS if offered): AUTH TLS is refused with 534 and the session goes on in the clear', async () => {
    const r = await curl(['--ssl', `${url}/`]);
    assert.match(r.out.toString(), /big\.bin/);
    assert.equal(r.session.refused, 2, 'AUTH TLS and AUTH SSL');
    assert.ok(relay.events.some((e) => e.event === 'refused' && e.detail['code'] === 'INSEL_FTP_SECURITY'));
    const strict = await runCurl(['--ssl-reqd', `${url}/`]);
    assert.notEqual(strict.code, 0);
    await relay.settle();
  });
});
