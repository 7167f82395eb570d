// The organization end to end on loopback with real processes: FTP across
// sites, and the organization under change and failure (issue 15 §3, §4, §8).
//
//   alice ─ insel open/run svc@branch ─▶ site main ══▶ site branch ─▶ web, TCP echo, vsftpd     (HQ: insel hq run)
//
// FTP: alice runs curl under `insel run --ftp ftp@branch` against the real
// vsftpd, in both passive modes (EPSV, PASV; active mode across sites is
// refused by the relays today, with a reason): upload 1 MB, list, download,
// checked by sha256 against the file vsftpd stored.
// A held connection through a relay pings every 50 ms. CA rollover: it
// survives and new connections opened meanwhile all work. HQ down: it
// keeps echoing, a new request fails naming HQ, and after HQ restarts the
// sites re-register and new requests work. Site branch restarted: the relay
// ends with an error naming the site at the client, and once branch
// re-registered new relays work. Last: `insel site renew` + SIGHUP at both
// sites, then a user enrolled with a new code gets through (users across a
// rollover, insel renew included: org/site/org-e2e.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openedAddress, type OrgUserHandle } from '../../cli/quickstart-org.js';
import { inselOk, waitUntil, type InselProc } from '../../cli/quickstart-procs.js';
import { fetchPage, PAGE } from '../../cli/quickstart-services.js';
import { ftpToolsMissing, startVsftpd, type Vsftpd } from '../../ftp/testing.js';
import { Holder } from './holder.js';
import { GROUP, LoopbackOrg } from './org-loopback.js';

const noFtp = ftpToolsMissing();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the organization on loopback: FTP across sites, CA rollover, HQ restart, site restart (real processes)', () => {
  let lab: LoopbackOrg;
  let alice: OrgUserHandle;
  let ftpd: Vsftpd | undefined;
  const cleanups: (() => unknown)[] = [];

  before(async () => {
    ftpd = noFtp === undefined ? await startVsftpd() : undefined;
    const ftp = ftpd === undefined ? [] : [{ name: 'ftp', proto: 'tcp' as const, host: '127.0.0.1', port: ftpd.port, groups: [GROUP] }];
    lab = await LoopbackOrg.create({ part: 'loop', extraServices: ftp });
    alice = await lab.user('alice');
    await lab.org.waitServices(alice, ['web@branch', 'echo@branch', ...ftp.map((s) => `${s.name}@branch`)]);
  });
  after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await lab?.close();
    await ftpd?.close();
  });

  for (const [mode, args] of [
    ['EPSV', []],
    ['PASV', ['--disable-epsv']],
  ] as [string, string[]][]) {
    test(`FTP across sites, passive ${mode}: insel run --ftp ftp@branch -- curl uploads, lists, downloads`, { skip: noFtp }, async () => {
      const server = ftpd as Vsftpd;
      const curl = async (more: string[]) => {
        const r = await lab.as(alice, ['run', '--ftp', 'ftp@branch', '--', 'curl', '-sS', '--max-time', '30', ...args, ...more], 60_000);
        assert.equal(r.code, 0, `curl ${more.join(' ')} through insel run: ${r.stderr}`);
        return r.stdout;
      };
      const data = randomBytes(1024 * 1024);
      const name = `up-${mode}.bin`;
      const file = join(lab.dir, name);
      await writeFile(file, data);
      await curl(['-T', file, `ftp://{host}:{port}/upload/${name}`]);
      assert.equal(sha256(await readFile(join(server.uploadDir, name))), sha256(data), 'the file vsftpd stored');
      assert.match(await curl(['ftp://{host}:{port}/upload/']), new RegExp(name.replace('.', '\\.')));
      const out = join(lab.dir, `down-${name}`);
      await curl(['-o', out, `ftp://{host}:{port}/upload/${name}`]);
      assert.equal(sha256(await readFile(out)), sha256(data), 'the file downloaded back');
    });
  }

  /** `insel open svc@branch` as `u`, with a held connection through it. */
  async function openHeld(u: OrgUserHandle, svc: string): Promise<{ open: InselProc; holder: Holder; port: number }> {
    const open = lab.startAs(u, ['open', svc]);
    cleanups.push(() => open.stop());
    const a = await openedAddress(open);
    const holder = await Holder.open(a.host, a.port);
    cleanups.push(() => holder.close());
    return { open, holder, port: a.port };
  }

  const runWeb = (u: OrgUserHandle) => lab.as(u, ['run', 'web@branch', '--', 'curl', '-sS', '--max-time', '10', 'http://{host}:{port}/'], 30_000);

  test('CA rollover: a held relay survives, no new connection fails meanwhile, old certificates still get through', async () => {
    const held = await openHeld(alice, 'echo@branch');
    const web = lab.startAs(alice, ['open', 'web@branch']);
    cleanups.push(() => web.stop());
    const w = await openedAddress(web);
    const failures: string[] = [];
    let fetches = 0;
    let rolling = true;
    const traffic = (async () => {
      while (rolling) {
        await fetchPage(w.host, w.port).then(
          (p) => (p === PAGE ? fetches++ : failures.push(`wrong page: ${p.slice(0, 80)}`)),
          (e: Error) => failures.push(e.message),
        );
      }
    })();
    let out: string;
    try {
      out = await lab.org.hqAdmin(['ca', 'rollover']);
      await held.holder.moreEchoes(10);
      // New relays after the rollover (the sites have the new trust bundle by now or soon).
      await waitUntil(async () => (await runWeb(alice)).code === 0, 'a new relay after the rollover', 10_000);
    } finally {
      rolling = false;
      await traffic;
    }
    assert.deepEqual(failures, [], `no connection failed during the rollover (${fetches} fetches; rollover said: ${out.trim()})`);
    assert.ok(fetches > 0);
    assert.ok(held.holder.open, 'the relay held since before the rollover still carries data');
    held.holder.close();
    await held.open.stop();
    await web.stop();
  });

  test('HQ down: a held relay keeps working, a new request fails naming HQ; HQ back: the sites re-register and new requests work', async () => {
    const held = await openHeld(alice, 'echo@branch');
    await lab.org.hq?.stop();
    await held.holder.moreEchoes(20);
    const down = await runWeb(alice);
    assert.notEqual(down.code, 0, `a new relay while HQ is down must fail: ${down.stdout}`);
    assert.match(down.stderr, /\bHQ\b/, 'the error names HQ');
    await held.holder.moreEchoes(10);
    await lab.org.startHq();
    let last = '';
    await waitUntil(async () => {
      const r = await runWeb(alice);
      last = r.stderr;
      return r.code === 0 && r.stdout === PAGE;
    }, () => `a new relay after HQ restarted (last error: ${last})`, 30_000);
    assert.ok(held.holder.open, 'the relay held through the HQ restart');
    await held.holder.moreEchoes(5);
    held.holder.close();
    await held.open.stop();
  });

  test('site restart: its relays end with an error naming the site at the client; it re-registers and new relays work', async () => {
    const held = await openHeld(alice, 'echo@branch');
    const mark = held.open.lineCount;
    await lab.org.sites.get('branch')?.stop();
    await held.holder.ended();
    const said = await held.open.waitFor(/branch/, 10_000, mark);
    assert.match(said.input, /branch/, 'insel open says which site went away');
    await lab.org.startSite('branch');
    let last = '';
    await waitUntil(async () => {
      const r = await runWeb(alice);
      last = r.stderr;
      return r.code === 0 && r.stdout === PAGE;
    }, () => `a new relay to branch after its restart (last error: ${last})`, 30_000);
    const again = await Holder.open('127.0.0.1', held.port);
    cleanups.push(() => again.close());
    await again.moreEchoes(5);
    await held.open.stop();
  });

  test('after the rollover, insel site renew and a reload (SIGHUP) at each site: a user enrolled with a new code (new root) gets through', async () => {
    for (const site of ['main', 'branch']) {
      const p = lab.org.sites.get(site)!;
      await inselOk(['site', 'renew', '--dir', lab.org.siteDir(site)]);
      const mark = p.lineCount;
      p.child.kill('SIGHUP');
      await p.waitFor(/"msg":"reloaded"/, 10_000, mark);
    }
    const dave = await lab.user('dave');
    await lab.org.waitServices(dave, ['web@branch']);
    const r = await runWeb(dave);
    assert.equal(r.code, 0, `dave runs curl through web@branch: ${r.stderr}`);
    assert.equal(r.stdout, PAGE);
  });
});
