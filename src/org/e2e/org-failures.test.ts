// The organization under change and failure, end to end on loopback with
// real processes (issue 15 §4, §8):
//
//   alice ─ insel open echo@branch ─▶ site main ══▶ site branch ─▶ TCP echo     (HQ: insel hq run)
//
// A held connection through the relay pings every 50 ms. CA rollover: it
// survives, and new connections opened meanwhile all work, also for a user
// enrolled under the new CA. HQ down: it keeps echoing, a new request fails
// naming HQ, and after HQ restarts the sites re-register and new requests
// work. Site branch restarted: the relay ends with an error naming the site
// at the client, and once branch re-registered new relays work.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openedAddress, type OrgUserHandle } from '../../cli/quickstart-org.js';
import { waitUntil, type InselProc, type RunResult } from '../../cli/quickstart-procs.js';
import { fetchPage, PAGE } from '../../cli/quickstart-services.js';
import { Holder } from './holder.js';
import { LoopbackOrg } from './org-loopback.js';

describe('the organization through CA rollover, HQ restart and site restart (loopback, real processes)', () => {
  let lab: LoopbackOrg;
  let alice: OrgUserHandle;
  const cleanups: (() => unknown)[] = [];

  before(async () => {
    lab = await LoopbackOrg.create({ part: 'fail' });
    alice = await lab.user('alice');
    await lab.org.waitServices(alice, ['web@branch', 'echo@branch']);
  });
  after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await lab?.close();
  });

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

  test('CA rollover: a held relay survives, no new connection fails meanwhile, a user enrolled after it reaches the same services', async () => {
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
    let r: RunResult;
    try {
      out = await lab.org.hqAdmin(['ca', 'rollover']);
      await held.holder.moreEchoes(10);
      const dave = await lab.user('dave');
      await lab.org.waitServices(dave, ['web@branch']);
      r = await runWeb(dave);
    } finally {
      rolling = false;
      await traffic;
    }
    assert.equal(r.code, 0, `dave (certificate from the new CA) runs curl through web@branch: ${r.stderr}`);
    assert.equal(r.stdout, PAGE);
    assert.deepEqual(failures, [], `no connection failed during the rollover (${fetches} fetches; rollover said: ${out.trim()})`);
    assert.ok(fetches > 0);
    assert.ok(held.holder.open, 'the relay held since before the rollover still carries data');
    const old = await runWeb(alice);
    assert.equal(old.code, 0, `alice (certificate from the old CA) still gets through: ${old.stderr}`);
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
});
