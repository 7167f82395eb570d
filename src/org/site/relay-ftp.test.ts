// FTP across sites, with the real vsftpd and curl:
//
//   curl ─control─► insel open ftp@b --ftp ══ CONNECT insel-service: ftp@b, insel-ftp: control ══► site a ══ ticket ══► site b ──► vsftpd
//     └─data (passive)─► one-shot listener ══ CONNECT server:port, insel-ftp: data, insel-control: a's stream ══► site a
//                          ══ same site session: CONNECT, insel-ftp: data, insel-control: b's stream ══► site b (its FtpWatch decides) ──► vsftpd
//
//   └◄data (active)── the user's relay ◄══ POST /insel/v1/accept ══ site a ◄══ accept ══ site b's one-shot listener ◄── vsftpd (PORT/EPRT)
//
// Upload 1 MB, list, download, in every mode curl has (EPSV, PASV, EPRT,
// PORT); site b logs each data connection as ftp-data.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ftpToolsMissing, runCurl, startVsftpd, type Vsftpd } from '../../ftp/testing.js';
import { until } from '../../forward/testing.js';
import { loadUserProfile, writeSiteJson } from '../client/profile.js';
import { openService, type OpenService } from '../client/open.js';
import { FakeHq, makeOrgPki, startSite, type OrgPki, type TestSite } from './testing.js';

const SIZE = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const skip = ftpToolsMissing();

describe('FTP across sites: curl, insel open --ftp, two site gateways, vsftpd', { skip }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let pki: OrgPki;
  let ftpd: Vsftpd;
  let b: TestSite;
  let open: OpenService;
  let work: string;
  let data: Buffer;
  const warnings: string[] = [];

  before(async () => {
    pki = await makeOrgPki();
    cleanups.push(() => pki.cleanup());
    work = await mkdtemp(join(tmpdir(), 'insel-org-ftp-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    ftpd = await startVsftpd();
    cleanups.push(() => ftpd.close());
    const hq = new FakeHq();
    b = await startSite(pki, 'b', hq, `[[allow_service]]\nwho = ["group:eng"]\nservices = ["ftp@b"]\n\n[[service]]\nname = "ftp"\nhost = "127.0.0.1"\nport = ${ftpd.port}\ngroups = ["eng"]\n`);
    cleanups.push(() => b.close());
    const a = await startSite(pki, 'a', hq, `[[allow_service]]\nwho = ["*"]\nservices = ["*@b"]\n`);
    cleanups.push(() => a.close());
    writeSiteJson(pki.profile('alice'), { site: 'a', gateway: `127.0.0.1:${a.site.port}` });
    open = await openService({ profile: loadUserProfile(pki.profile('alice')), service: 'ftp@b', bind: '127.0.0.1', port: 0, ftp: true, warn: (l) => warnings.push(l) });
    cleanups.push(() => open.close());
    data = randomBytes(SIZE);
    await writeFile(join(work, 'up.bin'), data);
  });

  after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  async function curl(args: string[]): Promise<Buffer> {
    const r = await runCurl(args, 30_000);
    assert.equal(r.code, 0, `curl ${args.join(' ')} failed: ${r.stderr}; insel: ${warnings.join(' | ')}`);
    return r.stdout;
  }

  const modes = [
    ['passive EPSV', []],
    ['passive PASV', ['--disable-epsv']],
    ['active EPRT', ['-P', '-']],
    ['active PORT', ['-P', '-', '--disable-eprt']],
  ] as const;
  for (const [i, [label, mode]] of modes.entries()) {
    test(`${label}: upload, list, download across the two sites`, async () => {
      const url = `ftp://127.0.0.1:${open.port}`;
      const mark = b.logs.length;
      const name = `up-${i}.bin`;
      await curl([...mode, '-T', join(work, 'up.bin'), `${url}/upload/${name}`]);
      assert.equal(sha256(await readFile(join(ftpd.uploadDir, name))), sha256(data));
      assert.match((await curl([...mode, `${url}/upload/`])).toString(), new RegExp(name.replace('.', '\\.')));
      const out = join(work, `down-${i}.bin`);
      await curl([...mode, '-o', out, `${url}/upload/${name}`]);
      assert.equal(sha256(await readFile(out)), sha256(data));
      const dataConns = () => b.logs.slice(mark).filter((l) => l['msg'] === 'connection' && l['kind'] === 'ftp-data');
      await until(() => dataConns().length >= 3, 'three ftp-data connections at site b');
      for (const c of dataConns()) assert.equal(c['who'], 'a'); // site a's session carries them; the control relay named alice
    });
  }
});
