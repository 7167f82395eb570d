// FTP through a service tunnel, end to end with the real Debian vsftpd and
// real curl:
//
//   curl ──control──► -L 127.0.0.1:fwd (ftp) ══ insel/1 CONNECT (insel-ftp: control) ══► gateway ──► vsftpd (127.0.0.1)
//     │                  │ relay rewrites PASV/EPSV/PORT/EPRT
//     ├──data (passive)─► one-shot listener ══ CONNECT (insel-ftp: data) ══════════════► gateway ──► vsftpd data port
//     └◄─data (active)─── joinActive ◄══ POST /insel/v1/accept ◄══ one-shot listen at the gateway ◄── vsftpd (PORT)
//
// Every transfer mode curl has (EPSV, PASV, EPRT, PORT) uploads 5 MB,
// lists and downloads it again, checked by sha256 against the original and
// the file vsftpd stored; the gateway's own log lines show each data
// connection went through it. Gateway, forwarder, vsftpd and temp dirs are
// closed in `after`, even when a step fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ftpToolsMissing, runCurl, startVsftpd, type Vsftpd } from '../ftp/testing.js';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { H_CONTROL, H_FTP, H_STREAM } from './protocol.js';
import { ForwardSession, GatewayRefusedError } from './session.js';
import { parseForwardSpec } from './spec.js';
import { ALLOW_ALICE_LOOPBACK, echoServer, profiles, startForwarder, startGateway, until, type TestForwarder, type TestGateway } from './testing.js';

const SIZE = 5 * 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const skip = ftpToolsMissing();

type Log = Record<string, unknown>;

const MODES: { name: string; args: string[]; kind: 'passive' | 'active' }[] = [
  { name: 'passive EPSV (curl default)', args: [], kind: 'passive' },
  { name: 'passive PASV (--disable-epsv)', args: ['--disable-epsv'], kind: 'passive' },
  { name: 'active EPRT (-P -)', args: ['-P', '-'], kind: 'active' },
  { name: 'active PORT (-P - --disable-eprt)', args: ['-P', '-', '--disable-eprt'], kind: 'active' },
];

describe('FTP through the tunnel: curl, -L with ftp, gateway, vsftpd', { skip }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let pki: TestPki;
  let dirs: ReturnType<typeof profiles>;
  let tg: TestGateway;
  let tf: TestForwarder;
  let ftpd: Vsftpd;
  let work: string;
  let data: Buffer;
  let url: string;

  before(async () => {
    pki = await makeTestPki();
    cleanups.push(() => pki.cleanup());
    dirs = profiles(pki, ['srv', 'alice']);
    cleanups.push(() => dirs.cleanup());
    work = await mkdtemp(join(tmpdir(), 'insel-tunnel-ftp-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    ftpd = await startVsftpd();
    cleanups.push(() => ftpd.close());
    tg = await startGateway(dirs.dir, dirs.profile('srv'), ALLOW_ALICE_LOOPBACK);
    cleanups.push(() => tg.close());
    tf = await startForwarder(tg.port, dirs.profile('alice'), [{ ...parseForwardSpec('L', `0:127.0.0.1:${ftpd.port}`), ftp: true }]);
    cleanups.push(() => tf.close());
    assert.deepEqual(tf.info, [`forward -L 127.0.0.1:${tf.ports[0]} -> 127.0.0.1:${ftpd.port} (ftp)`, `session with gateway 127.0.0.1:${tg.port} established`]);
    data = randomBytes(SIZE);
    await writeFile(join(work, 'up.bin'), data);
    url = `ftp://127.0.0.1:${tf.ports[0]}`;
  });

  after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  async function curl(args: string[]): Promise<Buffer> {
    const r = await runCurl(args, 30_000);
    assert.equal(r.code, 0, `curl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** Waits until `n` log lines since `from` match, and returns them. */
  async function logged(from: number, n: number, what: string, match: (l: Log) => boolean): Promise<Log[]> {
    const found = () => tg.logs.slice(from).filter(match);
    await until(() => found().length >= n, `${n} gateway log lines: ${what}`);
    return found();
  }

  for (const [i, mode] of MODES.entries()) {
    test(`${mode.name}: upload 5 MB, list, download; data connections cross the gateway`, async () => {
      const mark = tg.logs.length;
      const warnMark = tf.warn.length;
      const name = `up-${i}.bin`;

      await curl([...mode.args, '-T', join(work, 'up.bin'), `${url}/upload/${name}`]);
      assert.equal(sha256(await readFile(join(ftpd.uploadDir, name))), sha256(data), 'the file vsftpd stored');

      const list = (await curl([...mode.args, `${url}/upload/`])).toString();
      assert.match(list, new RegExp(`\\b${name.replace('.', '\\.')}\\b`));

      const out = join(work, `down-${i}.bin`);
      await curl([...mode.args, '-o', out, `${url}/upload/${name}`]);
      assert.equal(sha256(await readFile(out)), sha256(data), 'the file downloaded back');

      // Three control connections, each relayed as CONNECT to vsftpd's port.
      const controls = await logged(mark, 3, 'control connections ended', (l) => l['msg'] === 'connection' && l['kind'] === 'connect');
      assert.equal(controls.length, 3);
      for (const c of controls) assert.equal(c['address'], `127.0.0.1:${ftpd.port}`);

      if (mode.kind === 'passive') {
        // Each data connection is a CONNECT marked as FTP data, to vsftpd's data port.
        const conns = await logged(mark, 3, 'ftp-data connections ended', (l) => l['msg'] === 'connection' && l['kind'] === 'ftp-data');
        assert.equal(conns.length, 3, JSON.stringify(conns));
        for (const c of conns) {
          assert.equal(c['who'], 'alice');
          assert.match(String(c['address']), /^127\.0\.0\.1:\d+$/);
          assert.notEqual(c['address'], `127.0.0.1:${ftpd.port}`);
        }
        // upload: SIZE bytes up; download: SIZE bytes down.
        assert.ok(conns.some((c) => Number(c['up']) === SIZE && Number(c['down']) === 0), `no upload among ${JSON.stringify(conns)}`);
        assert.ok(conns.some((c) => Number(c['down']) === SIZE && Number(c['up']) === 0), `no download among ${JSON.stringify(conns)}`);
        assert.equal(tg.logs.slice(mark).filter((l) => l['msg'] === 'remote listen').length, 0);
      } else {
        // Each data connection: a one-shot listen at the gateway, then vsftpd's connection taken over the tunnel.
        const listens = await logged(mark, 3, 'active-mode listens', (l) => l['msg'] === 'remote listen' && l['ftp'] === 'active');
        assert.equal(listens.length, 3);
        for (const l of listens) {
          assert.equal(l['who'], 'alice');
          assert.match(String(l['listen']), /^127\.0\.0\.1:\d+$/);
        }
        const conns = await logged(mark, 3, 'active data connections ended', (l) => l['msg'] === 'connection' && l['kind'] === 'ftp-data');
        assert.equal(conns.length, 3, JSON.stringify(conns));
        for (const c of conns) assert.match(String(c['from']), /^127\.0\.0\.1:\d+$/, 'vsftpd connected from loopback');
        assert.ok(conns.some((c) => Number(c['up']) === SIZE && Number(c['down']) === 0), `no upload among ${JSON.stringify(conns)}`);
        assert.ok(conns.some((c) => Number(c['down']) === SIZE && Number(c['up']) === 0), `no download among ${JSON.stringify(conns)}`);
        assert.equal(tg.logs.slice(mark).filter((l) => l['kind'] === 'remote').length, 0);
      }
      assert.deepEqual(tg.logs.slice(mark).filter((l) => l['msg'] === 'denied'), []);
      // The forwarder's relay agrees: one data connection of this kind per session, nothing refused.
      const ended = () => tf.warn.slice(warnMark).filter((l) => l.includes('ftp session ended'));
      await until(() => ended().length >= 3, 'three FTP sessions ended at the forwarder');
      const n = mode.kind === 'passive' ? [1, 0] : [0, 1];
      for (const l of ended()) assert.match(l, new RegExp(`\\(eof\\): \\d+ commands, ${n[0]} passive and ${n[1]} active data connections, 0 refused$`));
      assert.deepEqual(tf.warn.slice(warnMark).filter((l) => /(refused|failed|violation):/.test(l)), []);
    });
  }

  test('FTP data streams need an open control connection to that server, on a port >= 1024 it announced', async (t) => {
    const identity = readIdentityFiles(profileFiles(dirs.profile('alice')));
    const via = { host: '127.0.0.1', port: tg.port };
    const echo = await echoServer();
    t.after(() => echo.close());
    const session = await ForwardSession.open({ via, identity });
    t.after(() => session.destroy());
    const other = await ForwardSession.open({ via, identity });
    t.after(() => other.destroy());
    const mark = tg.logs.length;

    const refused = (p: Promise<unknown>, what: string) =>
      assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof GatewayRefusedError, `${what}: ${String(err)}`);
        assert.equal(err.code, 'INSEL_POLICY_DENIED', what);
        assert.match(err.message, /FTP/, what);
        return true;
      });

    // The policy allows alice to connect to the echo port; marked as FTP data without a control connection, it is refused.
    await refused(session.connect('127.0.0.1', echo.port, { [H_FTP]: 'data', [H_CONTROL]: '1' }), 'data without any control connection');
    await refused(session.connect('127.0.0.1', echo.port, { [H_FTP]: 'data' }), 'data without an insel-control header');
    await refused(session.listen({ [H_FTP]: 'active', [H_CONTROL]: '1' }), 'an active-mode port without a control connection');

    // Now with a control connection to vsftpd open in `session`.
    const control = await session.connect('127.0.0.1', ftpd.port, { [H_FTP]: 'control' });
    t.after(() => control.stream.destroy());
    const id = String(control.headers[H_STREAM]);
    await refused(session.connect('127.0.0.2', echo.port, { [H_FTP]: 'data', [H_CONTROL]: id }), 'data to another host than the control connection');
    await refused(session.connect('127.0.0.1', 1023, { [H_FTP]: 'data', [H_CONTROL]: id }), 'data to a privileged port');
    await refused(other.connect('127.0.0.1', echo.port, { [H_FTP]: 'data', [H_CONTROL]: id }), "data citing another session's control connection");

    // Even in the control connection's own session: vsftpd announced no such port (tunnel-ftp-attack.test.ts has the rest).
    await refused(session.connect('127.0.0.1', echo.port, { [H_FTP]: 'data', [H_CONTROL]: id }), 'data to a port the server never announced');

    const denied = tg.logs.slice(mark).filter((l) => l['msg'] === 'denied');
    assert.equal(denied.length, 7, JSON.stringify(denied));
    assert.equal(denied.filter((l) => l['kind'] === 'ftp-data').length, 6);
    for (const d of denied) assert.equal(d['code'], 'INSEL_POLICY_DENIED');
  });
});
