// Sites with the real HQ (org/hq/testing.ts: in-process on loopback, its
// registry on SQLite), end to end through the real wire:
//
//   insel login ══ insel-enroll/1 ══► site a ══ redeem (insel-org/1) ══► HQ
//   insel run web@b -- curl ══► site a ══ authorize ══► HQ;  site a ══ ticket ══► site b ══ claim ══► HQ;  site b ──► node:http
//
// Then: insel services, a CA rollover (sites renew, nothing breaks, the old
// root retired), HQ's revocation of the user reaching both sites
// (relay cut with the reason), HQ down (new relays fail naming HQ, an open
// one keeps working). Users across a rollover: ca.pem refreshed from the
// site, insel renew onto the new root, through after the old root is
// retired; a revoked user's renewal and a bundle that drops every root the
// user trusts are refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, get as httpGet, type Server } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { CLI, until } from '../../forward/testing.js';
import { ForwardSession, GatewayRefusedError } from '../../forward/session.js';
import { MuxCode } from '../../mux/index.js';
import { signedByNewest } from '../../pki/bundle-refresh.js';
import { initCa } from '../../pki/ca.js';
import { newKeyPair } from '../../pki/certgen.js';
import { createCsr } from '../../pki/csr.js';
import { trustFromPem } from '../../pki/trust.js';
import { refreshBundle } from '../../forward/gateway-trust.js';
import { retireOrgCa, revokeIdentity, rolloverOrgCa } from '../hq/admin.js';
import { startTestHq, type TestHq } from '../hq/testing.js';
import type { HqLink } from '../wire/hq-link.js';
import type { OrgRefusedError } from '../wire/errors.js';
import { login } from '../client/login.js';
import { loadUserProfile } from '../client/profile.js';
import { listServices } from '../client/services.js';
import { openService } from '../client/open.js';
import { renewCertificate } from '../client/renew.js';
import { siteConfigFromText } from './config.js';
import { H_SERVICE } from './protocol.js';
import { SiteGateway } from './site-gateway.js';
import { onNewestRoot } from './renew.js';

const PAGE = 'page of site b\n';

interface Site {
  dir: string;
  gw: SiteGateway;
  link: HqLink;
  logs: Record<string, unknown>[];
  certFile: string;
  caFile: string;
}

/** Enrolls site `name` at HQ (groups eng) and runs its gateway from DIR/site.toml with `extra` TOML. */
async function startSite(hq: TestHq, name: string, extra: string): Promise<Site> {
  const enrolled = await hq.enrollSite(name, ['eng']);
  const dir = join(hq.dir, `run-${name}`);
  mkdirSync(dir, { recursive: true });
  const text = `name = "${name}"\nhq = "127.0.0.1:${hq.hq.port}"\nlisten = "127.0.0.1:0"\nprofile = "${enrolled.dir}"\n${extra}\n`;
  writeFileSync(join(dir, 'site.toml'), text);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n')) if (l) logs.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const link = hq.link(enrolled.identity);
  const gw = await SiteGateway.start({ config: siteConfigFromText(text, join(dir, 'site.toml')), log: pino({ level: 'info' }, sink), hq: link });
  return { dir, gw, link, logs, certFile: join(enrolled.dir, 'cert.pem'), caFile: join(enrolled.dir, 'ca.pem') };
}

/** The insel CLI in a child process. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('site gateways with the real HQ', () => {
  let hq: TestHq;
  let web: Server;
  let a: Site;
  let b: Site;
  let profile: string;
  const sessions: ForwardSession[] = [];

  before(async () => {
    hq = await startTestHq();
    web = createServer((_q, r) => r.end(PAGE));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    const port = (web.address() as { port: number }).port;
    b = await startSite(hq, 'b', `[[allow_service]]\nwho = ["site:a"]\nservices = ["web@b"]\n\n[[service]]\nname = "web"\nhost = "127.0.0.1"\nport = ${port}\ngroups = ["eng"]\n`);
    a = await startSite(hq, 'a', `[[allow_service]]\nwho = ["group:eng"]\nservices = ["*@b"]\n`);
    profile = join(hq.dir, 'alice-profile');
    const { code } = await a.link.userCode('alice', ['eng'], 600);
    const login = await cli(['login', '--site', `127.0.0.1:${a.gw.port}`, '--code', code, '--profile', profile]);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /logged in as alice of site a \(groups eng\)/);
  });

  after(async () => {
    for (const s of sessions) s.destroy();
    await a?.gw.close();
    await b?.gw.close();
    await hq?.close();
    await new Promise<void>((r) => web?.close(() => r()));
  });

  async function aliceSession(): Promise<ForwardSession> {
    const p = loadUserProfile(profile);
    const s = await ForwardSession.open({ via: p.gateway, identity: p.identity, gatewayName: p.site, gatewayRoles: ['site'] });
    sessions.push(s);
    return s;
  }

  it('a user logs in at its site, lists services and reads a page of another site with insel run curl', async () => {
    const list = await listServices(loadUserProfile(profile), () => undefined);
    assert.deepEqual(list.map((s) => `${s.name}@${s.site} ${s.online}`), ['web@b true']);
    const run = await cli(['run', 'web@b', '--profile', profile, '--', 'curl', '-s', 'http://{host}:{port}/']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, PAGE);
    await until(() => a.logs.some((l) => l['msg'] === 'connection' && l['kind'] === 'relay' && l['who'] === 'alice'), 'the relay logged at site a');
  });

  it('insel run of a service the user may not use fails before running the program, naming the service', async () => {
    const run = await cli(['run', 'nope@b', '--profile', profile, '--', 'true']);
    assert.notEqual(run.code, 0, 'true would have exited 0 had it run');
    assert.match(run.stderr, /nope@b is not among the services you may use/);
  });

  it('insel site user add prints a code and the insel login command; the code works once', async () => {
    const add = await cli(['site', 'user', 'add', 'erin', '--groups', 'eng', '--ttl', '10m', '--dir', a.dir]);
    assert.equal(add.code, 0, add.stderr);
    const code = /insel login --site \S+ --code (\S+)/.exec(add.stdout)?.[1];
    assert.ok(code, add.stdout);
    const dir = join(hq.dir, 'erin');
    const first = await cli(['login', '--site', `127.0.0.1:${a.gw.port}`, '--code', code, '--profile', dir]);
    assert.equal(first.code, 0, first.stderr);
    const again = await cli(['login', '--site', `127.0.0.1:${a.gw.port}`, '--code', code, '--profile', join(hq.dir, 'erin2')]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /used/i);
  });

  it('HQ down: a new relay fails naming HQ, an open one keeps working', async () => {
    const s = await aliceSession();
    const open = await s.request({ ':method': 'CONNECT', [H_SERVICE]: 'web@b' }, false);
    await hq.server.close();
    await until(() => !a.link.connected, 'site a notices HQ is gone');
    const err = await s.request({ ':method': 'CONNECT', [H_SERVICE]: 'web@b' }, false).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof GatewayRefusedError, String(err));
    assert.equal(err.refusal.code, 'INSEL_HQ_UNAVAILABLE');
    assert.match(err.message, new RegExp(`HQ at 127\\.0\\.0\\.1:${hq.hq.port} is unreachable`));
    let body = '';
    open.stream.on('data', (d: Buffer) => (body += d.toString()));
    open.stream.end('GET / HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n');
    await until(() => body.endsWith(PAGE), 'the page over the open relay');
  });
});

/** A fresh HQ and web server for one test; `start` runs a site (b's web service at the web server's port: WEB below); all closed after. */
async function withOrg(fn: (o: { hq: TestHq; start: (name: string, extra: string) => Promise<Site>; sessions: ForwardSession[] }) => Promise<void>): Promise<void> {
  const hq = await startTestHq();
  const web = createServer((_q, r) => r.end(PAGE));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  const gws: SiteGateway[] = [];
  const sessions: ForwardSession[] = [];
  try {
    await fn({
      hq,
      sessions,
      start: async (name, extra) => {
        const site = await startSite(hq, name, extra.replace('WEB', String((web.address() as { port: number }).port)));
        gws.push(site.gw);
        return site;
      },
    });
  } finally {
    for (const s of sessions) s.destroy();
    for (const g of gws) await g.close();
    await hq.close();
    await new Promise<void>((r) => web.close(() => r()));
  }
}

describe('revocation through the real HQ', () => {
  it('cuts the user\'s relays at both sites with HQ\'s reason', () =>
    withOrg(async ({ hq, start, sessions }) => {
      await start('b', `[[allow_service]]\nwho = ["*"]\nservices = ["*"]\n[[service]]\nname = "web"\nhost = "127.0.0.1"\nport = WEB\ngroups = ["eng"]\n`);
      const a = await start('a', `[[allow_service]]\nwho = ["*"]\nservices = ["*"]\n`);
      const dir = join(hq.dir, 'bob');
      const { code } = await a.link.userCode('bob', ['eng'], 600);
      await login({ site: { host: '127.0.0.1', port: a.gw.port }, code, dir });
      const p = loadUserProfile(dir);
      const s = await ForwardSession.open({ via: p.gateway, identity: p.identity, gatewayName: 'a', gatewayRoles: ['site'] });
      sessions.push(s);
      const open = await s.request({ ':method': 'CONNECT', [H_SERVICE]: 'web@b' }, false);
      const cut = new Promise<[number, string]>((resolve) => open.stream.once('reset', (c: number, r: string) => resolve([c, r])));
      await revokeIdentity(hq.ctx, 'user', 'bob', 'left the company');
      const [c, reason] = await cut;
      assert.equal(c, MuxCode.CUT);
      assert.match(reason, /left the company|revoked|no longer accepted/);
    }));
});

describe('CA rollover through the real HQ', () => {
  it('sites take the new bundle without a break, renew onto the new root, and relays of new users work once the old root is retired', () =>
    withOrg(async ({ hq, start, sessions }) => {
      const b = await start('b', `[[allow_service]]\nwho = ["*"]\nservices = ["*"]\n[[service]]\nname = "web"\nhost = "127.0.0.1"\nport = WEB\ngroups = ["eng"]\n`);
      const a = await start('a', `[[allow_service]]\nwho = ["*"]\nservices = ["*"]\n`);
      const page = async (user: string) => {
        const p = loadUserProfile(join(hq.dir, user));
        const s = await ForwardSession.open({ via: p.gateway, identity: p.identity, gatewayName: 'a', gatewayRoles: ['site'] });
        sessions.push(s);
        const o = await s.request({ ':method': 'CONNECT', [H_SERVICE]: 'web@b' }, false);
        let body = '';
        o.stream.on('data', (d: Buffer) => (body += d.toString()));
        o.stream.end('GET / HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n');
        await until(() => body.endsWith(PAGE), `the page for ${user}`);
      };
      const enrollUser = async (user: string) => {
        const { code } = await a.link.userCode(user, ['eng'], 600);
        await login({ site: { host: '127.0.0.1', port: a.gw.port }, code, dir: join(hq.dir, user) });
      };
      await enrollUser('olduser');
      await page('olduser');
      await rolloverOrgCa(hq.ctx);
      const renewed = (s: { certFile: string; caFile: string }) => {
        const bundle = readFileSync(s.caFile, 'utf8');
        return onNewestRoot(readFileSync(s.certFile, 'utf8'), bundle);
      };
      const bundled = (s: { caFile: string }) => trustFromPem(readFileSync(s.caFile, 'utf8')).roots.length === 2;
      await until(() => bundled(a) && bundled(b), 'both sites hold the new bundle', 15_000);
      await page('olduser'); // nothing breaks during the rollover
      assert.equal(await b.gw.renewCertificate(), true);
      assert.equal(await a.gw.renewCertificate(), true);
      assert.ok(renewed(a) && renewed(b));
      await enrollUser('newuser');
      await retireOrgCa(hq.ctx, 1);
      // Both sites applied the bundle without the old root (b then cut a's session opened on a's old certificate), and are back at HQ.
      const retired = (x: Site) => trustFromPem(readFileSync(x.caFile, 'utf8')).roots.length === 1;
      await until(() => retired(a) && retired(b) && a.gw.peers.size === 0, 'both sites dropped the old root', 15_000);
      await until(() => a.link.connected && b.link.connected, 'the sites reconnected to HQ with their new certificates', 15_000);
      await page('newuser');
    }));
});

describe('users across a CA rollover', () => {
  let hq: TestHq;
  let web: Server;
  let a: Site;
  let b: Site;
  let profile: string;
  const warnings: string[] = [];
  const warn = (line: string) => void warnings.push(line);
  const user = () => loadUserProfile(profile);
  const roots = (file: string) => trustFromPem(readFileSync(file, 'utf8')).roots.length;

  before(async () => {
    hq = await startTestHq();
    web = createServer((_q, r) => r.end(PAGE));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    const allAllowed = `[[allow_service]]\nwho = ["*"]\nservices = ["*"]\n`;
    b = await startSite(hq, 'b', `${allAllowed}[[service]]\nname = "web"\nhost = "127.0.0.1"\nport = ${(web.address() as { port: number }).port}\ngroups = ["eng"]\n`);
    a = await startSite(hq, 'a', allAllowed);
    profile = join(hq.dir, 'rita');
    await enrollUser('rita', profile);
  });
  after(async () => {
    await a?.gw.close();
    await b?.gw.close();
    await hq?.close();
    await new Promise<void>((r) => web?.close(() => r()));
  });

  async function enrollUser(name: string, dir: string): Promise<void> {
    const { code } = await a.link.userCode(name, ['eng'], 600);
    await login({ site: { host: '127.0.0.1', port: a.gw.port }, code, dir });
  }

  /** web@b's page through `insel open` (openService: the client's whole path, the bundle refresh included). */
  async function openPage(): Promise<string> {
    const open = await openService({ profile: user(), service: 'web@b', bind: '127.0.0.1', port: 0, warn });
    try {
      return await new Promise<string>((resolve, reject) => {
        httpGet({ host: open.host, port: open.port, path: '/', agent: false }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.once('end', () => resolve(body));
        }).once('error', reject);
      });
    } finally {
      await open.close();
    }
  }

  it("the user's ca.pem follows the rollover from its site; the user renews onto the new root and still gets through once the old root is retired", async () => {
    await rolloverOrgCa(hq.ctx);
    await until(() => roots(a.caFile) === 2 && roots(b.caFile) === 2, 'both sites hold the new bundle', 15_000);
    assert.equal(roots(user().caFile), 1);
    assert.deepEqual((await listServices(user(), warn)).map((s) => `${s.name}@${s.site}`), ['web@b']);
    assert.equal(roots(user().caFile), 2, 'insel services took the new root into ca.pem');
    assert.equal(statSync(user().caFile).mode & 0o777, 0o644);
    assert.match(warnings.join('\n'), /trust bundle changed \(CA rollover\): added root CA "insel root CA 2".*renew it \(insel renew\)/);

    // The sites move first: the user, holding the new root already, follows.
    assert.equal(await b.gw.renewCertificate(), true);
    assert.equal(await a.gw.renewCertificate(), true);
    assert.equal(await openPage(), PAGE, 'web@b through the renewed sites, on the old user certificate');

    const old = user().identity;
    const renew = await cli(['renew', '--profile', profile]);
    assert.equal(renew.code, 0, renew.stderr);
    assert.match(renew.stdout, /^renewed: rita of site a \(groups eng\), certificate [0-9a-f]+; profile /, 'the same identity, from the registry');
    const renewed = user().identity;
    assert.notEqual(renewed.key, old.key, 'a new key');
    assert.equal(statSync(join(profile, 'key.pem')).mode & 0o777, 0o600);
    assert.ok(signedByNewest(renewed.cert, renewed.ca), 'the certificate is of the new root');

    await retireOrgCa(hq.ctx, 1);
    await until(() => roots(a.caFile) === 1 && roots(b.caFile) === 1, 'both sites dropped the old root', 15_000);
    await until(() => a.link.connected && b.link.connected, 'the sites are back at HQ on their new certificates', 15_000);
    assert.deepEqual((await listServices(user(), warn)).map((s) => `${s.name}@${s.site} ${s.online}`), ['web@b true']);
    assert.equal(roots(user().caFile), 1, "the retired root left the user's ca.pem");
    assert.equal(await openPage(), PAGE, 'web@b after the old root is retired');
    assert.deepEqual(warnings.filter((w) => /keeping/.test(w)), [], 'no bundle was refused');
  });

  it("a revoked user's renewal is refused with the reason, at HQ and at the site, and nothing is written", async () => {
    const dir = join(hq.dir, 'sam');
    await enrollUser('sam', dir);
    const sam = loadUserProfile(dir);
    const [cert] = await hq.ctx.registry.certsOf('user', 'sam');
    await revokeIdentity(hq.ctx, 'user', 'sam', 'left the company');
    // HQ's registry decides, whatever a site still believes.
    const csr = await createCsr(await newKeyPair(), 'sam');
    await assert.rejects(a.link.renewUser({ name: 'sam', site: 'a', groups: ['eng'], serial: cert!.serial }, csr), (e: OrgRefusedError) => {
      assert.equal(e.code, 'INSEL_ORG_DENIED');
      assert.match(e.reason, /certificate \S+ of user sam is revoked \(left the company\): it cannot be renewed/);
      return true;
    });
    await until(() => a.gw.revoked(cert!.serial) !== undefined, 'site a holds the CRL revoking sam');
    // The site refuses the session itself now, naming the revocation.
    await assert.rejects(renewCertificate(sam, warn), /your certificate was refused: certificate of user sam .* is revoked \(serial/);
    assert.equal(readFileSync(join(dir, 'key.pem'), 'utf8'), sam.identity.key, 'the key is untouched');
    assert.equal(readFileSync(join(dir, 'cert.pem'), 'utf8'), sam.identity.cert, 'the certificate is untouched');
  });

  it('a trust bundle that would drop every root the user trusts is refused with a clear message; ca.pem is kept', async () => {
    // An honest gateway cannot send one (it verified the user under a root of its bundle): this is a compromised gateway's.
    const impostorDir = join(hq.dir, 'impostor-ca');
    await initCa({ dir: impostorDir, org: 'Acme' });
    const p = user();
    const held = readFileSync(p.caFile, 'utf8');
    const said: string[] = [];
    const got = await refreshBundle(async () => readFileSync(join(impostorDir, 'ca.crt'), 'utf8'), { identity: p.identity, caFile: p.caFile, warn: (l) => void said.push(l) }, '127.0.0.1:7444');
    assert.equal(got, undefined);
    assert.equal(readFileSync(p.caFile, 'utf8'), held);
    assert.match(said.join('\n'), /keeping .*ca\.pem: the trust bundle from gateway 127\.0\.0\.1:7444 contains none of the root CAs in .*ca\.pem .*refused.*log in again with a new code/);
  });
});
