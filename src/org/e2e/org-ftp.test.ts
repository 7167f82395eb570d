// FTP across sites with the real vsftpd and curl, end to end with real
// processes on loopback: alice runs curl under `insel run --ftp ftp@branch`,
// the relay pair (site main → site branch) carries the control connection
// and the data connections it announces, in both passive modes (EPSV, PASV;
// active mode across sites is refused by the relays today, with a reason).
// Uploads 1 MB, lists and downloads it back, checked by sha256 against the
// file vsftpd stored.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OrgUserHandle } from '../../cli/quickstart-org.js';
import { ftpToolsMissing, startVsftpd, type Vsftpd } from '../../ftp/testing.js';
import { GROUP, LoopbackOrg } from './org-loopback.js';

const skip = ftpToolsMissing();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('FTP across sites: insel run --ftp ftp@branch -- curl, vsftpd behind site branch', { skip }, () => {
  let ftpd: Vsftpd;
  let lab: LoopbackOrg;
  let alice: OrgUserHandle;
  let data: Buffer;
  let file: string;

  before(async () => {
    ftpd = await startVsftpd();
    lab = await LoopbackOrg.create({ part: 'ftp', extraServices: [{ name: 'ftp', proto: 'tcp', host: '127.0.0.1', port: ftpd.port, groups: [GROUP] }] });
    alice = await lab.user('alice');
    await lab.org.waitServices(alice, ['ftp@branch']);
    data = randomBytes(1024 * 1024);
    file = join(lab.dir, 'up.bin');
    await writeFile(file, data);
  });
  after(async () => {
    await lab?.close();
    await ftpd?.close();
  });

  const curl = async (args: string[]) => {
    const r = await lab.as(alice, ['run', '--ftp', 'ftp@branch', '--', 'curl', '-sS', '--max-time', '30', ...args], 60_000);
    assert.equal(r.code, 0, `curl ${args.join(' ')} through insel run: ${r.stderr}`);
    return r.stdout;
  };

  for (const [mode, args] of [
    ['passive (EPSV)', []],
    ['passive (PASV)', ['--disable-epsv']],
  ] as [string, string[]][]) {
    test(`${mode}: upload, list, download through the relays`, async () => {
      const name = `up-${args.length}.bin`;
      await curl([...args, '-T', file, `ftp://{host}:{port}/upload/${name}`]);
      assert.equal(sha256(await readFile(join(ftpd.uploadDir, name))), sha256(data), 'the file vsftpd stored');
      assert.match(await curl([...args, 'ftp://{host}:{port}/upload/']), new RegExp(name.replace('.', '\\.')));
      const out = join(lab.dir, `down-${name}`);
      await curl([...args, '-o', out, `ftp://{host}:{port}/upload/${name}`]);
      assert.equal(sha256(await readFile(out)), sha256(data), 'the file downloaded back');
    });
  }
});
