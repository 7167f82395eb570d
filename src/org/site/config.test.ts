// site.toml: the example parses with every key; defaults; mistakes are named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../config/errors.js';
import { siteConfigFromText } from './config.js';

const EXAMPLE = fileURLToPath(new URL('../../../../examples/site.toml', import.meta.url));

test('examples/site.toml parses, with every key', () => {
  const c = siteConfigFromText(readFileSync(EXAMPLE, 'utf8'), '/etc/insel/site.toml');
  assert.equal(c.name, 'branch');
  assert.deepEqual(c.hq, { host: 'hq.example.com', port: 7443 });
  assert.equal(c.public, 'branch.example.com:7444');
  assert.deepEqual(c.services.map((s) => `${s.name} ${s.proto} ${s.host}:${s.port} ${s.groups.join(',')}`), ['web tcp 10.1.0.5:80 eng,ops', 'files tcp 10.1.0.6:21 eng']);
  assert.equal(c.serviceRules.size, 2);
  assert.deepEqual(c.relayLimits, { relaysPerUser: 64, pendingAuthorizations: 256, siteSessions: 64 });
  assert.equal(c.gateway.identity.certFile, '/etc/insel/identity/cert.pem');
  assert.equal(c.gateway.policy.size, 1);
});

test('defaults: listen 0.0.0.0:7444, profile identity, no services, nothing relayed', () => {
  const c = siteConfigFromText('name = "a"\nhq = "127.0.0.1:7443"\n', '/srv/a/site.toml');
  assert.deepEqual(c.gateway.listen, { host: '0.0.0.0', port: 7444 });
  assert.equal(c.gateway.identity.keyFile, '/srv/a/identity/key.pem');
  assert.equal(c.public, undefined);
  assert.deepEqual(c.services, []);
  const alice = { org: 'O', role: 'user' as const, name: 'alice', site: 'a', groups: ['eng'], serial: '1' };
  assert.equal(c.serviceRules.check(alice, 'web', 'b').allow, false);
});

test('rules match by user, group and site, and services by name and site', () => {
  const c = siteConfigFromText(
    'name = "b"\nhq = "h:1"\n[[allow_service]]\nwho = ["site:a"]\nservices = ["web@b"]\n[[allow_service]]\nwho = ["user:carol"]\nservices = ["*@b"]\n[[allow_service]]\nwho = ["group:ops"]\nservices = ["ssh@*"]\n',
    '/x/site.toml',
  );
  const user = (name: string, site: string, groups: string[] = []) => ({ org: 'O', role: 'user' as const, name, site, groups, serial: '1' });
  assert.equal(c.serviceRules.check(user('alice', 'a'), 'web', 'b').allow, true);
  assert.equal(c.serviceRules.check(user('alice', 'a'), 'db', 'b').allow, false);
  assert.equal(c.serviceRules.check(user('carol', 'c'), 'db', 'b').allow, true);
  assert.equal(c.serviceRules.check(user('dave', 'c', ['ops']), 'ssh', 'z').allow, true);
  const no = c.serviceRules.check(user('eve', 'c', ['x']), 'web', 'b');
  assert.ok(!no.allow && /no \[\[allow_service\]\] rule of this site lets eve of site c \(groups x\) use web@b/.test(no.reason));
});

test('mistakes name the key and the fix', () => {
  const bad: [string, RegExp][] = [
    ['hq = "h:1"\n', /name/],
    ['name = "a b"\nhq = "h:1"\n', /name.*A-Z a-z 0-9/],
    ['name = "a"\nhq = "nope"\n', /hq/],
    ['name = "a"\nhq = "h:1"\n[[service]]\nname = "web"\nhost = "x"\nport = 0\ngroups = []\n', /service\[0\]\.port|ports are 1-65535/],
    ['name = "a"\nhq = "h:1"\n[[service]]\nname = "web"\nhost = "x"\nport = 80\ngroups = []\n[[service]]\nname = "web"\nhost = "y"\nport = 81\ngroups = []\n', /listed twice/],
    ['name = "a"\nhq = "h:1"\n[[allow_service]]\nwho = ["friend:x"]\nservices = ["*"]\n', /allow_service\[0\]\.who\[0\]/],
    ['name = "a"\nhq = "h:1"\n[[allow_service]]\nwho = ["*"]\nservices = ["web"]\n', /allow_service\[0\]\.services\[0\].*svc@site/],
    ['name = "a"\nhq = "h:1"\nbogus = 1\n', /bogus/],
    ['name = "a"\nhq = "h:1"\n[relays]\nrelays_per_user = 0\n', /relays_per_user|at least 1/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => siteConfigFromText(text, '/x/site.toml'), (e: unknown) => e instanceof ConfigError && re.test(e.message), text);
  }
});
