// Sites with the real HQ (org/hq/testing.ts: in-process on loopback, its
// registry on SQLite), end to end through the real wire:
//
//   insel login ══ insel-enroll/1 ══► site a ══ redeem (insel-org/1) ══► HQ
//   insel run web@b -- curl ══► site a ══ authorize ══► HQ;  site a ══ ticket ══► site b ══ claim ══► HQ;  site b ──► node:http
//
// Then: insel services, a CA rollover (sites renew, nothing breaks, the old
// root retired), HQ's revocation of the user reaching both sites
// (relay cut with the reason), HQ down (new relays fail naming HQ, an open
// one keeps working).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { CLI, until } from '../../forward/testing.js';
import { ForwardSession, GatewayRefusedError } from '../../forward/session.js';
import { MuxCode } from '../../mux/index.js';
import { trustFromPem } from '../../pki/trust.js';
import { retireOrgCa, revokeIdentity, rolloverOrgCa } from '../hq/admin.js';
import { startTestHq, type TestHq } from '../hq/testing.js';
import type { HqLink } from '../wire/hq-link.js';
import { login } from '../client/login.js';
import { loadUserProfile } from '../client/profile.js';
import { listServices } from '../client/services.js';
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

describe('site gateways with the real HQ', () => {
  let hq: TestHq;
  let web: Server;
  let a: Site;
  let b: Site;
  let profile: string;
  const sessions: ForwardSession[] = [];

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
