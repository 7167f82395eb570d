// Relays between two site gateways, with an in-test HQ (testing.ts FakeHq):
//
//   user (ForwardSession / insel run) ══ insel/1 ══► site a ══ insel/1 (site cert) ══► site b ──► HTTP server
//                                                     └──── HqApi (FakeHq) ────────────────┘
//
// What works (a page through `insel run … curl`), what is refused and with
// which reason (HQ's groups, a's rules, b's rules, unknown service, HQ down,
// a user of another site, tickets forged, replayed or presented by a
// non-site), and what ends relays (a revocation event, a site restart).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { profileFiles, readIdentityFiles } from '../../config/identity.js';
import { ForwardSession, GatewayRefusedError, type OpenStream } from '../../forward/session.js';
import { CLI, until } from '../../forward/testing.js';
import { MuxCode, type MuxHeaders } from '../../mux/index.js';
import { H_BIND, H_BOUND } from '../../forward/protocol.js';
import { writeSiteJson } from '../client/profile.js';
import { H_SERVICE, H_TICKET } from './protocol.js';
import { FakeHq, makeOrgPki, startSite, type OrgPki, type TestSite } from './testing.js';

const PAGE = 'hello from site b\n';

/** The host's routes (all tables), rules and resolver config: what open access must leave alone. */
function hostNet(): string[] {
  const ip = (...args: string[]) => execFileSync('ip', ['-j', ...args], { encoding: 'utf8' });
  return [ip('route', 'show', 'table', 'all'), ip('-6', 'route', 'show', 'table', 'all'), ip('rule'), readFileSync('/etc/resolv.conf', 'utf8')];
}
const A_RULES = `[[allow_service]]\nname = "everyone to b"\nwho = ["*"]\nservices = ["*@b"]\n\n[[allow]]\nname = "alice hosts on loopback"\nwho = ["user:alice"]\nto = ["127.0.0.1"]\nports = ["*"]\naction = "listen"\n`;
const B_RULES = `[[allow_service]]\nname = "eng of a"\nwho = ["group:eng"]\nservices = ["web@b", "nosuch@b"]\n`;

describe('site gateway relays', () => {
  let pki: OrgPki;
  let hq: FakeHq;
  let web: Server;
  let webPort: number;
  let a: TestSite;
  let b: TestSite;
  const sessions: ForwardSession[] = [];

  before(async () => {
    pki = await makeOrgPki();
    hq = new FakeHq();
    web = createServer((_req, res) => res.end(PAGE));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    webPort = (web.address() as { port: number }).port;
    b = await startSite(pki, 'b', hq, `${B_RULES}\n[[service]]\nname = "web"\nhost = "127.0.0.1"\nport = ${webPort}\ngroups = ["eng"]\n\n[[service]]\nname = "closed"\nhost = "127.0.0.1"\nport = ${webPort}\ngroups = ["eng"]\n`);
    a = await startSite(pki, 'a', hq, A_RULES);
    for (const u of ['alice', 'dave', 'carol']) writeSiteJson(pki.profile(u), { site: u === 'carol' ? 'b' : 'a', gateway: `127.0.0.1:${a.site.port}` });
  });

  after(async () => {
    for (const s of sessions) s.destroy();
    await a?.close();
    await b?.close();
    await new Promise<void>((r) => web.close(() => r()));
    pki?.cleanup();
  });

  /** A session to site `to`'s gateway as `who` (a user's profile, or a site's identity). */
  async function sessionAs(who: string, to: TestSite, name: string): Promise<ForwardSession> {
    const s = await ForwardSession.open({ via: { host: '127.0.0.1', port: to.site.port }, identity: readIdentityFiles(profileFiles(pki.profile(who))), gatewayName: name, gatewayRoles: ['site'] });
    sessions.push(s);
    return s;
  }

  async function refusal(s: ForwardSession, headers: MuxHeaders): Promise<GatewayRefusedError> {
    const err = await s.request(headers, false).then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof GatewayRefusedError, String(err));
    return err;
  }

  /** GET / over an open relay stream; resolves with the body. */
  function httpOver(o: OpenStream): Promise<string> {
    return new Promise((resolve, reject) => {
      let body = '';
      o.stream.on('data', (b: Buffer) => (body += b.toString()));
      o.stream.once('end', () => resolve(body));
      o.stream.once('error', reject);
      o.stream.end('GET / HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n');
    });
  }

  /** Why an open relay stream ended: its reset's reason, else that it just closed. */
  const endOf = (open: OpenStream) =>
    new Promise<string>((resolve) => {
      open.stream.once('reset', (_c: number, reason: string) => resolve(reason));
      open.stream.once('close', () => resolve('closed without a reason'));
    });

  const service = (svc: string): MuxHeaders => ({ ':method': 'CONNECT', [H_SERVICE]: svc });

  it('serves a page across sites through insel run … curl, and reports session-end to HQ', async () => {
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'run', 'web@b', '--profile', pki.profile('alice'), '--', 'curl', '-s', 'http://{host}:{port}/'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, PAGE);
    await until(() => hq.ended.length > 0, 'session-end at HQ');
    assert.ok(hq.ended[0]!.bytesOut >= PAGE.length);
  });

  it('insel open prints where the service is and keeps it open until Ctrl-C; routes and DNS stay as they were (open access)', async () => {
    const before = hostNet();
    const child = spawn(process.execPath, [CLI, 'open', 'web@b', '--profile', pki.profile('alice')], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.once('exit', (code) => reject(new Error(`insel open exited with ${code}`)));
      });
      const m = /^web@b is at 127\.0\.0\.1:(\d+)$/.exec(line);
      assert.ok(m, line);
      for (let i = 0; i < 2; i++) assert.equal(await (await fetch(`http://127.0.0.1:${m[1]}/`, { headers: { connection: 'close' } })).text(), PAGE);
      assert.deepEqual(hostNet(), before, 'insel open changed no route, rule or resolver');
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('lists the services HQ allows the user', async () => {
    const s = await sessionAs('alice', a, 'a');
    const o = await s.request({ ':method': 'GET', ':path': '/insel/v1/services' }, true);
    let body = '';
    for await (const c of o.stream) body += (c as Buffer).toString();
    const names = (JSON.parse(body) as { services: { name: string; site: string }[] }).services.map((x) => `${x.name}@${x.site}`).sort();
    assert.deepEqual(names, ['closed@b', 'web@b']);
  });

  it('refuses with the reason: HQ groups, rules at a, rules at b, an unknown service', async () => {
    const dave = await sessionAs('dave', a, 'a');
    const denied = await refusal(dave, service('web@b'));
    assert.equal(denied.refusal.code, 'INSEL_ORG_DENIED');
    assert.match(denied.message, /none of web@b's groups/);
    const alice = await sessionAs('alice', a, 'a');
    const atA = await refusal(alice, service('web@c'));
    assert.equal(atA.refusal.code, 'INSEL_POLICY_DENIED');
    assert.match(atA.message, /no \[\[allow_service\]\] rule of this site lets alice .* use web@c/);
    const atB = await refusal(alice, service('closed@b'));
    assert.equal(atB.refusal.code, 'INSEL_POLICY_DENIED');
    assert.match(atB.message, /^site b: no \[\[allow_service\]\] rule/);
    const unknown = await refusal(alice, service('nosuch@b'));
    assert.equal(unknown.refusal.code, 'INSEL_ORG_UNKNOWN_SERVICE');
    const malformed = await refusal(alice, service('web'));
    assert.equal(malformed.refusal.code, 'INSEL_FORWARD_SPEC');
  });

  it('refuses a user of another site, whatever it claims', async () => {
    const carol = await sessionAs('carol', a, 'a');
    const e = await refusal(carol, service('web@b'));
    assert.equal(e.refusal.code, 'INSEL_ORG_NOT_YOUR_SITE');
    assert.match(e.message, /user carol of site b/);
  });

  it('at the service site: refuses forged, replayed and foreign tickets, and tickets from a non-site', async () => {
    const fromA = await sessionAs('a', b, 'b');
    const forged = await refusal(fromA, { ...service('web'), [H_TICKET]: 'deadbeef.00' });
    assert.equal(forged.refusal.code, 'INSEL_ORG_TICKET');
    const alice = { name: 'alice', site: 'a', groups: ['eng'], serial: '1' };
    const ticket = hq.issue('a', alice, 'web@b');
    const first = await fromA.request({ ...service('web'), [H_TICKET]: ticket }, false);
    assert.equal(await httpOver(first).then((body) => body.endsWith(PAGE)), true);
    const replay = await refusal(fromA, { ...service('web'), [H_TICKET]: ticket });
    assert.equal(replay.refusal.code, 'INSEL_ORG_TICKET');
    // site c presents a ticket HQ issued for a relay from site a
    const fromC = await sessionAs('c', b, 'b');
    const foreign = await refusal(fromC, { ...service('web'), [H_TICKET]: hq.issue('a', alice, 'web@b') });
    assert.equal(foreign.refusal.code, 'INSEL_ORG_TICKET');
    assert.match(foreign.message, /from site a .*not from site c/);
    // a user and a plain server presenting a ticket
    for (const who of ['alice', 'eve']) {
      const s = await sessionAs(who, b, 'b');
      const e = await refusal(s, { ...service('web'), [H_TICKET]: hq.issue('a', alice, 'web@b') });
      assert.equal(e.refusal.code, 'INSEL_ORG_NOT_A_SITE');
    }
  });

  it('HQ down: new relays fail naming HQ, an established relay keeps working', async () => {
    const alice = await sessionAs('alice', a, 'a');
    const open = await alice.request(service('web@b'), false);
    hq.down = true;
    try {
      const e = await refusal(alice, service('web@b'));
      assert.equal(e.refusal.code, 'INSEL_HQ_UNAVAILABLE');
      assert.match(e.message, /HQ at 127\.0\.0\.1:7443 is unreachable/);
      assert.ok((await httpOver(open)).endsWith(PAGE));
    } finally {
      hq.down = false;
    }
  });

  it('cuts a relay of a user HQ revoked, with the reason at the client', async () => {
    const alice = await sessionAs('alice', a, 'a');
    const open = await alice.request(service('web@b'), false);
    const reset = new Promise<[number, string]>((resolve) => open.stream.once('reset', (code: number, reason: string) => resolve([code, reason])));
    hq.push({ kind: 'revoked', serials: [], names: [{ role: 'user', name: 'alice' }], crl: '', reason: 'laptop stolen' });
    const [code, reason] = await reset;
    assert.equal(code, MuxCode.CUT);
    assert.match(reason, /revoked by HQ: laptop stolen/);
  });

  it('hosts a relay listener on the LAN for a user the rules allow, not for others', async () => {
    const alice = await sessionAs('alice', a, 'a');
    const hosted = await alice.listen({ [H_SERVICE]: 'web@b', [H_BIND]: '127.0.0.1:0' });
    const port = Number(String(hosted.headers[H_BOUND]).split(':').pop());
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), PAGE);
    hosted.stream.destroy();
    const dave = await sessionAs('dave', a, 'a');
    const e = await refusal(dave, { ':method': 'POST', ':path': '/insel/v1/listen', [H_SERVICE]: 'web@b', [H_BIND]: '127.0.0.1:0' });
    assert.equal(e.refusal.code, 'INSEL_POLICY_DENIED');
    assert.match(e.message, /action = "listen"/);
  });

  it("a revocation with HQ's new CRL cuts the user's session and relays at both sites, and keeps them out", async () => {
    const frank = await sessionAs('frank', a, 'a');
    const open = await frank.request(service('web@b'), false);
    const mark = b.logs.length;
    const cut = new Promise<string>((resolve) => {
      open.stream.once('reset', (_c: number, reason: string) => resolve(reason));
      frank.once('close', (reason: string) => resolve(reason));
    });
    const crl = await pki.revoke('frank');
    hq.push({ kind: 'revoked', serials: [], names: [{ role: 'user', name: 'frank' }], crl, reason: 'left the company' });
    assert.match(await cut, /revoked|no longer accepted/);
    await until(() => b.logs.slice(mark).some((l) => l['msg'] === 'connection' && l['who'] === 'frank'), 'the relay at site b ended');
    await assert.rejects(sessionAs('frank', a, 'a'), /revoked/);
  });

  it('a site gateway restart ends its relays with a clear error, and it registers again', async () => {
    const alice = await sessionAs('alice', a, 'a');
    const open = await alice.request(service('web@b'), false);
    const ended = endOf(open);
    const port = b.site.port;
    const oldDir = b.dir;
    await b.close();
    assert.match(await ended, /the session with site b ended|site gateway b is shutting down/);
    hq.sites.delete('b');
    b = await startSite(pki, 'b', hq, `${B_RULES}\n[[service]]\nname = "web"\nhost = "127.0.0.1"\nport = ${webPort}\ngroups = ["eng"]\n`, port);
    assert.ok(hq.sites.has('b'), `site b registered again (was ${oldDir})`);
    const again = await alice.request(service('web@b'), false);
    assert.ok((await httpOver(again)).endsWith(PAGE));
  });

  it("the user's own site gateway restarting ends the user's relays with a clear error", async () => {
    const alice = await sessionAs('alice', a, 'a');
    const open = await alice.request(service('web@b'), false);
    const ended = endOf(open);
    const sessionEnd = new Promise<string>((resolve) => alice.once('close', resolve));
    const port = a.site.port;
    await a.close();
    assert.match(await ended, /site gateway a is shutting down/);
    assert.match(await sessionEnd, /shutting down/);
    a = await startSite(pki, 'a', hq, A_RULES, port);
    const again = await (await sessionAs('alice', a, 'a')).request(service('web@b'), false);
    assert.ok((await httpOver(again)).endsWith(PAGE));
  });
});
