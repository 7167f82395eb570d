// UDP services and calls with the real parts: HQ (org/hq/testing.ts, its
// registry on SQLite), two site gateways (SiteGateway with udp_listen), users
// logged in with `insel login`, and the real CLI as child processes:
//
//   insel open rtp@b ══► site a ══ HQ authorize ══ relay ══► site b ══ HQ claim ══► UDP echo
//   insel agent (bob) ◄═ site b ◄═ HQ `call` event;  insel call bob@b ══► site a ══ relay ══► site b ◄══ insel answer
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { CLI, until } from '../../forward/testing.js';
import { startTestHq, type TestHq } from '../hq/testing.js';
import type { HqLink } from '../wire/hq-link.js';
import { siteConfigFromText } from '../site/config.js';
import { SiteGateway } from '../site/site-gateway.js';
import { bound, closeSocket, LOOP, pump, udpEcho } from './testing.js';

interface Site {
  gw: SiteGateway;
  link: HqLink;
}

interface Cli {
  out: string[];
  err: string[];
  child: ChildProcess;
  line(re: RegExp, what: string): Promise<RegExpMatchArray>;
}

function cli(t: TestContext | undefined, args: string[]): Cli {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Cli = {
    out: [],
    err: [],
    child,
    async line(re, what) {
      await until(() => c.out.some((l) => re.test(l)), `${what} (stdout ${JSON.stringify(c.out)}, stderr ${JSON.stringify(c.err)})`);
      return c.out.find((l) => re.test(l))!.match(re)!;
    },
  };
  const lines = (into: string[]) => (d: Buffer) => into.push(...d.toString().split('\n').filter((l) => l !== ''));
  child.stdout!.on('data', lines(c.out));
  child.stderr!.on('data', lines(c.err));
  t?.after(() => void child.kill('SIGTERM'));
  return c;
}

function exited(c: Cli): Promise<number | null> {
  return c.child.exitCode !== null ? Promise.resolve(c.child.exitCode) : new Promise((r) => c.child.once('exit', (code) => r(code)));
}

describe('UDP services and calls with the real HQ and site gateways', () => {
  let hq: TestHq;
  let echo: Awaited<ReturnType<typeof udpEcho>>;
  let a: Site;
  let b: Site;
  const profile = (user: string) => join(hq.dir, `${user}-profile`);

  async function startSite(name: string, extra: string): Promise<Site> {
    const enrolled = await hq.enrollSite(name, ['eng']);
    const dir = join(hq.dir, `run-${name}`);
    mkdirSync(dir, { recursive: true });
    const text = `name = "${name}"\nhq = "${LOOP}:${hq.hq.port}"\nlisten = "${LOOP}:0"\nudp_listen = "${LOOP}:0"\nprofile = "${enrolled.dir}"\n${extra}\n`;
    writeFileSync(join(dir, 'site.toml'), text);
    const sink = new Writable({ write: (_c, _e, done) => done() });
    const link = hq.link(enrolled.identity);
    const gw = await SiteGateway.start({ config: siteConfigFromText(text, join(dir, 'site.toml')), log: pino({ level: 'info' }, sink), hq: link });
    return { gw, link };
  }

  async function login(site: Site, user: string): Promise<void> {
    const { code } = await site.link.userCode(user, ['eng'], 600);
    const c = cli(undefined, ['login', '--site', `${LOOP}:${site.gw.port}`, '--code', code, '--profile', profile(user)]);
    assert.equal(await exited(c), 0, c.err.join('\n'));
  }

  before(async () => {
    hq = await startTestHq();
    echo = await udpEcho();
    b = await startSite('b', `[[allow_service]]\nwho = ["site:a"]\nservices = ["rtp@b"]\n\n[[service]]\nname = "rtp"\nproto = "udp"\nhost = "${LOOP}"\nport = ${echo.port}\ngroups = ["eng"]\n`);
    a = await startSite('a', `[[allow_service]]\nwho = ["group:eng"]\nservices = ["*@b"]\n`);
    await login(a, 'alice');
    await login(b, 'bob');
  });

  after(async () => {
    await a?.gw.close();
    await b?.gw.close();
    await hq?.close();
    await echo?.close();
  });

  it('insel open rtp@b: 5,000 datagrams each way to a UDP echo behind site b', async (t) => {
    const open = cli(t, ['open', 'rtp@b', '--profile', profile('alice')]);
    const [, port] = await open.line(/^rtp@b is at 127\.0\.0\.1:(\d+)$/, 'the open line');
    const app = await bound();
    t.after(() => closeSocket(app));
    const seen = new Set<number>();
    app.on('message', (m: Buffer) => seen.add(m.readUInt32BE(0)));
    const N = 5_000;
    const before = echo.received();
    const lost = await pump(app, Number(port), N, 'e2e-open', () => seen.size);
    t.diagnostic(`insel open rtp@b: sent ${N}, echo got ${echo.received() - before}, back ${seen.size}, lost ${lost} (${((100 * lost) / N).toFixed(2)} %)`);
    assert.ok(lost < N / 100, `loss under 1 % (lost ${lost})`);
  });

  it("alice calls bob: bob's agent prints the invitation, insel answer joins, 5,000 datagrams each way; hanging up ends bob's side", async (t) => {
    const agent = cli(t, ['agent', '--profile', profile('bob')]);
    await agent.line(/^waiting for calls at site b$/, "the agent's first line");
    const call = cli(t, ['call', 'bob@b', '--local-port', '0', '--profile', profile('alice')]);
    const [, callId, portP] = await call.line(/^calling bob@b: call ([a-z2-7]{26}), ringing until \S+; send to 127\.0\.0\.1:(\d+)$/, 'the call line');
    const [invitation] = await agent.line(new RegExp(`^call ${callId} from alice@a: insel answer ${callId} --local-port Q`), "the agent's invitation");
    t.diagnostic(`agent: ${invitation}`);
    const answer = cli(t, ['answer', callId!, '--local-port', '0', '--profile', profile('bob')]);
    const [, portQ] = await answer.line(new RegExp(`^answering call ${callId} from alice@a; send to 127\\.0\\.0\\.1:(\\d+)$`), 'the answer line');

    const alice = await bound();
    const bob = await bound();
    t.after(() => closeSocket(alice));
    t.after(() => closeSocket(bob));
    const count = (s: typeof alice, marker: string) => {
      const seen = new Set<number>();
      s.on('message', (m: Buffer) => {
        if (m.toString('latin1', 4, 4 + marker.length) === marker) seen.add(m.readUInt32BE(0));
      });
      return seen;
    };
    const atBob = count(bob, 'from-alice');
    const atAlice = count(alice, 'from-bob');
    alice.send('hello', Number(portP), LOOP);
    bob.send('hello', Number(portQ), LOOP);
    const N = 5_000;
    const [toBob, toAlice] = await Promise.all([pump(alice, Number(portP), N, 'from-alice', () => atBob.size), pump(bob, Number(portQ), N, 'from-bob', () => atAlice.size)]);
    t.diagnostic(`call: alice → bob lost ${toBob} (${((100 * toBob) / N).toFixed(2)} %), bob → alice lost ${toAlice} (${((100 * toAlice) / N).toFixed(2)} %)`);
    assert.ok(toBob < N / 100 && toAlice < N / 100, `loss under 1 % each way (${toBob}, ${toAlice})`);

    call.child.kill('SIGINT');
    assert.equal(await exited(answer), 0, answer.err.join('\n'));
    t.diagnostic(`bob's answer: ${answer.err.join(' | ')}`);
    assert.ok(answer.err.some((l) => /the call ended: alice@a left the call/.test(l)), answer.err.join('\n'));
  });

  it('refuses an answer by another user of the callee site', async (t) => {
    await login(b, 'eve');
    const call = cli(t, ['call', 'bob@b', '--local-port', '0', '--profile', profile('alice')]);
    const [, callId] = await call.line(/call ([a-z2-7]{26})/, 'the call line');
    const eve = cli(t, ['answer', callId!, '--local-port', '0', '--profile', profile('eve')]);
    assert.equal(await exited(eve), 1);
    t.diagnostic(`eve: ${eve.err.join(' | ')}`);
    assert.ok(eve.err.some((l) => l.includes(`call ${callId} is not for eve@b`)), eve.err.join('\n'));
  });
});
