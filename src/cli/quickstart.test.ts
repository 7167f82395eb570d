import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InselProc } from './quickstart-procs.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), 'insel-quickstart-'));
after(() => rmSync(cwd, { recursive: true, force: true }));

/** The pids of processes whose command line names `text` (the quickstart's directory: its HQ and sites). */
function pidsNaming(text: string): number[] {
  const r = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter((l) => l.includes(text) && !l.includes(' ps '))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

/** Runs `insel quickstart` until it says the organization runs, then Ctrl-C; resolves everything it printed and its exit code. */
async function quickstart(): Promise<{ out: string; code: number | null }> {
  const p = new InselProc('insel quickstart', process.execPath, [MAIN, 'quickstart'], { cwd });
  try {
    await p.waitFor(/^quickstart: the organization is running; Ctrl-C stops it$/, 120_000);
    const before = pidsNaming(join(cwd, 'insel-quickstart'));
    assert.ok(before.length >= 3, `HQ and two sites run as processes: ${before.join(' ')}`);
    p.child.kill('SIGINT');
    const code = await Promise.race([p.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    assert.notEqual(code, 'hung', `quickstart did not stop on SIGINT:\n${p.tail()}`);
    assert.deepEqual(pidsNaming(join(cwd, 'insel-quickstart')), [], 'nothing of the organization runs after Ctrl-C');
    return { out: p.output(), code: code as number | null };
  } finally {
    await p.stop('SIGKILL');
    for (const pid of pidsNaming(join(cwd, 'insel-quickstart'))) process.kill(pid, 'SIGKILL');
  }
}

describe('insel quickstart (npm start): the organization on loopback', () => {
  it('starts HQ, two sites and the sample services, enrolls the demo user, fetches the page and echoes UDP through the VPN; Ctrl-C stops it; a second run reuses it', async () => {
    const first = await quickstart();
    assert.equal(first.code, 0, first.out);
    const o = first.out;
    assert.match(o, /^sample services at the branch office: an HTTP page on 127\.0\.0\.1:\d+, a UDP echo on 127\.0\.0\.1:\d+$/m);
    assert.match(o, /^HQ \(org insel-quickstart\) created in insel-quickstart\/hq, running on 127\.0\.0\.1:\d+/m);
    assert.match(o, /^site main enrolled with a single-use code/m);
    assert.match(o, /^site branch enrolled with a single-use code .*publishes web@branch \(tcp\), echo@branch \(udp\)$/m);
    assert.match(o, /^user demo@main \(group staff\) logged in with a single-use code/m);
    assert.match(o, /^insel open web@branch: fetched the page through main -> branch: "Hello from the branch office: this page came to you through insel\."$/m);
    assert.match(o, /^insel open echo@branch: a UDP datagram went to the branch and came back: "ping from demo"$/m);
    assert.match(o, /^ {2}npx insel run web@branch --profile insel-quickstart\/users\/demo -- curl -s http:\/\/\{host\}:\{port\}\/$/m);
    assert.match(o, /^quickstart: SIGINT: stopped HQ, sites main and branch and the sample services$/m);
    assert.doesNotMatch(o, /PRIVATE KEY/);
    const qs = join(cwd, 'insel-quickstart');
    assert.equal(statSync(join(qs, 'users/demo/key.pem')).mode & 0o777, 0o600);
    assert.ok(existsSync(join(qs, 'sites/branch/identity/cert.pem')));
    const ports = readFileSync(join(qs, 'ports.json'), 'utf8');

    const again = await quickstart();
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /^HQ \(org insel-quickstart\) reused from insel-quickstart\/hq/m);
    assert.match(again.out, /^site branch reused/m);
    assert.match(again.out, /^user demo@main \(group staff\) reused/m);
    assert.match(again.out, /^insel open web@branch: fetched the page/m);
    assert.equal(readFileSync(join(qs, 'ports.json'), 'utf8'), ports, 'the same ports, so the printed commands stay valid');
  });

  it('--channels: the secure-channel demo (a demo PKI, echoes over tcp and udp), and a second run reuses the PKI', () => {
    const run = () => spawnSync(process.execPath, [MAIN, 'quickstart', '--channels', '--dir', 'demo'], { cwd, encoding: 'utf8', timeout: 60_000 });
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
