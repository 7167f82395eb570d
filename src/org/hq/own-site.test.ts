// HQ's own LAN (hq.toml [site]): the site gateway HQ runs is a site like any
// other. A user of the HQ LAN logs in at it and reads a page at site b
// through a relay; its identity is issued once and kept; a bad [site] key is
// an error naming hq.toml and site.KEY.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { until } from '../../forward/testing.js';
import { ForwardSession } from '../../forward/session.js';
import { ConfigError } from '../../config/errors.js';
import { login } from '../client/login.js';
import { loadUserProfile } from '../client/profile.js';
import { siteConfigFromText } from '../site/config.js';
import { H_SERVICE } from '../site/protocol.js';
import { SiteGateway } from '../site/site-gateway.js';
import { hqConfigFromText, loadHqConfig } from './config.js';
import { ownSiteConfig, startOwnSite, type OwnSite } from './own-site.js';
import { silentLog, startTestHq, type TestHq } from './testing.js';

const PAGE = 'page of site b\n';

describe("HQ's own LAN site gateway ([site] in hq.toml)", () => {
  let hq: TestHq;
  let web: Server;
  let b: SiteGateway;
  let own: OwnSite | undefined;
  const sessions: ForwardSession[] = [];

  const startOwn = async () => (own = await startOwnSite({ ctx: hq.ctx, config: loadHqConfig(hq.dir), hqPort: hq.server.port, log: silentLog }));

  before(async () => {
    hq = await startTestHq();
    web = createServer((_q, r) => r.end(PAGE));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    const enrolled = await hq.enrollSite('b', ['eng']);
    const text = `name = "b"\nhq = "127.0.0.1:${hq.hq.port}"\nlisten = "127.0.0.1:0"\nprofile = "${enrolled.dir}"\n[[allow_service]]\nwho = ["site:main"]\nservices = ["web@b"]\n[[service]]\nname = "web"\nhost = "127.0.0.1"\nport = ${(web.address() as { port: number }).port}\ngroups = ["eng"]\n`;
    b = await SiteGateway.start({ config: siteConfigFromText(text, join(hq.dir, 'b.toml')), log: pino({ level: 'silent' }), hq: hq.link(enrolled.identity) });
    appendFileSync(join(hq.dir, 'hq.toml'), '\n[site]\nname = "main"\ngroups = ["eng"]\nlisten = "127.0.0.1:0"\n[[site.allow_service]]\nwho = ["group:eng"]\nservices = ["*@b"]\n');
    await startOwn();
  });

  after(async () => {
    for (const s of sessions) s.destroy();
    await own?.close();
    await b?.close();
    await hq?.close();
    await new Promise<void>((r) => web?.close(() => r()));
  });

  it('registers with HQ over its port like any site, with an identity HQ issued at first start', async () => {
    assert.ok(own);
    assert.equal(own.gateway.registered, true);
    assert.equal((await hq.ctx.registry.site('main'))?.status, 'online');
    assert.deepEqual((await hq.ctx.registry.site('main'))?.groups, ['eng']);
    assert.equal((await hq.ctx.registry.certsOf('site', 'main')).length, 1);
    assert.equal(statSync(join(hq.dir, 'site', 'identity', 'key.pem')).mode & 0o777, 0o600);
    for (const f of ['cert.pem', 'ca.pem', 'crl.pem']) assert.ok(statSync(join(hq.dir, 'site', 'identity', f)).isFile(), f);
  });

  it('serves a user of the HQ LAN relaying to a service at site b', async () => {
    assert.ok(own);
    const dir = join(hq.dir, 'alice');
    const { code } = await own.link.userCode('alice', ['eng'], 600);
    await login({ site: { host: '127.0.0.1', port: own.gateway.port }, code, dir });
    const p = loadUserProfile(dir);
    assert.equal(p.site, 'main');
    const s = await ForwardSession.open({ via: p.gateway, identity: p.identity, gatewayName: 'main', gatewayRoles: ['site'] });
    sessions.push(s);
    const open = await s.request({ ':method': 'CONNECT', [H_SERVICE]: 'web@b' }, false);
    let body = '';
    open.stream.on('data', (d: Buffer) => (body += d.toString()));
    open.stream.end('GET / HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n');
    await until(() => body.endsWith(PAGE), 'the page of site b through the relay');
  });

  it('keeps its identity across a restart', async () => {
    const cert = readFileSync(join(hq.dir, 'site', 'identity', 'cert.pem'), 'utf8');
    await own?.close();
    own = undefined;
    await startOwn();
    assert.equal(own!.gateway.registered, true);
    assert.equal(readFileSync(join(hq.dir, 'site', 'identity', 'cert.pem'), 'utf8'), cert);
    assert.equal((await hq.ctx.registry.certsOf('site', 'main')).length, 1);
  });
});

describe('[site] errors', () => {
  const config = (site: string) => hqConfigFromText(`org = "Acme"\nlisten = "127.0.0.1:7443"\n[site]\nname = "main"\n${site}\n`, '/etc/insel/hq.toml');
  const refusal = (site: string): ConfigError => {
    try {
      ownSiteConfig(config(site), 7443);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err;
    }
    assert.fail('no error');
  };

  it('names hq.toml and the key under [site]', () => {
    const unknown = refusal('lisen = "127.0.0.1:7444"');
    assert.match(unknown.message, /^\/etc\/insel\/hq\.toml: site\.lisen: unknown key/);
    assert.equal(unknown.field, 'site.lisen');
    assert.match(refusal('listen = "nowhere"').message, /^\/etc\/insel\/hq\.toml: site\.listen: /);
    assert.match(refusal('[[site.service]]\nname = "web"\nhost = "h"\nport = 99999\ngroups = []').message, /^\/etc\/insel\/hq\.toml: site\.service\[0\]\.port: ports are 1-65535/);
    assert.match(refusal('hq = "127.0.0.1:7443"').message, /site\.hq: .*leave hq out/);
    assert.match(refusal('groups = "eng"').message, /site\.groups: must be a list of group names/);
  });

  it('defaults the identity to DIR/site/identity and HQ to its own listen address', () => {
    const own = ownSiteConfig(config(''), 7443)!;
    assert.equal(own.site.gateway.identity.certFile, '/etc/insel/site/identity/cert.pem');
    assert.deepEqual(own.site.hq, { host: '127.0.0.1', port: 7443 });
    assert.equal(ownSiteConfig(hqConfigFromText('org = "Acme"\n', '/x/hq.toml'), 7443), undefined);
  });
});
