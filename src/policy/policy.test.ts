import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Identity } from '../pki/identity.js';
import { ConfigError } from '../config/errors.js';
import { Policy, type AccessRequest, type RuleConfig } from './policy.js';

const alice: Identity = { org: 'Acme', role: 'user', name: 'alice', site: 'branch', groups: ['staff'], serial: '1a' };
const bob: Identity = { org: 'Acme', role: 'user', name: 'bob', groups: [], serial: '1b' };
const branch: Identity = { org: 'Acme', role: 'site', name: 'branch', site: 'branch', groups: [], serial: '2' };
const svc: Identity = { org: 'Acme', role: 'client', name: 'backup', groups: ['ops', 'staff'], serial: '3' };

const req = (identity: Identity, host: string, address: string, port: number, more: Partial<AccessRequest> = {}): AccessRequest => ({
  identity,
  action: 'connect',
  proto: 'tcp',
  host,
  address,
  port,
  ...more,
});

const rule = (r: Partial<RuleConfig>): RuleConfig => ({ who: ['*'], to: ['*'], ports: ['*'], ...r });
const allowed = (p: Policy, r: AccessRequest) => p.check(r).allow;

test('no rules: everything is denied', () => {
  const p = Policy.fromRules([], 'gw.toml');
  assert.equal(p.size, 0);
  assert.equal(allowed(p, req(alice, 'a', '10.0.0.1', 80)), false);
});

test('who: user, group, site, role, *; any selector of a rule suffices', () => {
  const only = (who: string[]) => Policy.fromRules([rule({ who })], 'gw.toml');
  const who = (p: Policy) => [alice, bob, branch, svc].filter((id) => allowed(p, req(id, 'h', '10.0.0.1', 80))).map((i) => i.name);
  assert.deepEqual(who(only(['user:alice'])), ['alice']);
  assert.deepEqual(who(only(['group:staff'])), ['alice', 'backup']);
  assert.deepEqual(who(only(['site:branch'])), ['alice', 'branch']);
  assert.deepEqual(who(only(['role:site'])), ['branch']);
  assert.deepEqual(who(only(['role:client', 'user:bob'])), ['bob', 'backup']);
  assert.deepEqual(who(only(['*'])), ['alice', 'bob', 'branch', 'backup']);
  assert.deepEqual(who(only(['user:Alice'])), [], 'names are case-sensitive, as in certificates');
});

test('who: identities a site CA issued are scoped to that site (user:NAME@SITE); group: and site: cover them', () => {
  // what verify returns for certificates site CA branch signed: its alice, and an attacker's "alice" of another site is impossible (verify)
  const branchAlice: Identity = { org: 'Acme', role: 'user', name: 'alice', site: 'branch', groups: ['sales'], serial: '4', issuer: 'branch' };
  const rootAlice: Identity = { ...alice, site: undefined, groups: [] } as Identity;
  const only = (who: string[]) => Policy.fromRules([rule({ who })], 'gw.toml');
  const ids = { rootAlice, branchAlice, alice, bob };
  const who = (p: Policy) => Object.entries(ids).filter(([, id]) => allowed(p, req(id, 'h', '10.0.0.1', 80))).map(([k]) => k);
  assert.deepEqual(who(only(['user:alice'])), ['rootAlice', 'alice'], 'user:alice is the root\'s alice only');
  assert.deepEqual(who(only(['user:alice@branch'])), ['branchAlice']);
  assert.deepEqual(who(only(['user:alice@other'])), []);
  assert.deepEqual(who(only(['site:branch'])), ['branchAlice', 'alice'], 'site: covers the root\'s site=branch and all branch issued');
  assert.deepEqual(who(only(['group:sales'])), ['branchAlice']);
  const d = only(['user:bob']).check(req(branchAlice, 'h', '10.0.0.1', 80));
  assert.ok(!d.allow);
  assert.match(d.reason, /^no policy rule lets user alice@branch \(site branch, group sales\) connect/);
});

test('to: exact names (case-insensitive, trailing dot), wildcards of one or more labels', () => {
  const p = Policy.fromRules([rule({ to: ['Mail.Example.com', '*.intra.example'] })], 'gw.toml');
  const ok = (host: string) => allowed(p, req(alice, host, '192.0.2.1', 25));
  assert.ok(ok('mail.example.com'));
  assert.ok(ok('MAIL.example.COM'));
  assert.ok(ok('mail.example.com.'));
  assert.ok(!ok('mail.example.org'));
  assert.ok(!ok('smtp.mail.example.com'));
  assert.ok(ok('wiki.intra.example'));
  assert.ok(ok('a.b.intra.example'));
  assert.ok(!ok('intra.example'), 'the wildcard needs at least one label');
  assert.ok(!ok('evilintra.example'));
  assert.ok(!ok('192.0.2.1'), 'a name rule does not match an IP the client typed');
});

test('to: CIDRs and single IPs match the resolved address, not the name', () => {
  const p = Policy.fromRules([rule({ to: ['10.0.0.0/8', '192.168.1.5', 'fd00::/8', '::1/128', '[2001:db8::7]'] })], 'gw.toml');
  const ok = (host: string, address: string) => allowed(p, req(alice, host, address, 80));
  assert.ok(ok('anything.example', '10.200.3.4'));
  assert.ok(!ok('10.1.1.1', '11.1.1.1'), 'judged by the address we connect to (no DNS rebinding)');
  assert.ok(ok('h', '192.168.1.5'));
  assert.ok(!ok('h', '192.168.1.6'));
  assert.ok(ok('h', 'fd12:3456::1'));
  assert.ok(!ok('h', 'fe80::1'));
  assert.ok(ok('h', '::1'));
  assert.ok(ok('h', '2001:db8::7'));
  assert.ok(ok('h', '2001:DB8:0:0:0:0:0:7'));
  assert.ok(ok('h', '::ffff:10.1.2.3'), 'IPv4-mapped IPv6 is the IPv4 address');
  assert.ok(!ok('h', 'not-an-ip'));
  assert.ok(!ok('h', ''));
});

test('to "*" and 0.0.0.0/0', () => {
  const any = Policy.fromRules([rule({ to: ['*'] })], 'gw.toml');
  assert.ok(allowed(any, req(alice, 'x.example', '203.0.113.9', 1)));
  const v4 = Policy.fromRules([rule({ to: ['0.0.0.0/0'] })], 'gw.toml');
  assert.ok(allowed(v4, req(alice, 'x', '203.0.113.9', 1)));
  assert.ok(!allowed(v4, req(alice, 'x', '2001:db8::1', 1)));
});

test('ports: single, ranges, *, numbers from TOML', () => {
  const p = Policy.fromRules([rule({ ports: ['25', '8000-9000', 443] })], 'gw.toml');
  const ok = (port: number) => allowed(p, req(alice, 'h', '10.0.0.1', port));
  assert.deepEqual([25, 24, 26, 7999, 8000, 8500, 9000, 9001, 443, 0].map(ok), [true, false, false, false, true, true, true, false, true, false]);
  const star = Policy.fromRules([rule({ ports: ['*'] })], 'gw.toml');
  assert.ok(allowed(star, req(alice, 'h', '10.0.0.1', 65535)));
});

test('proto: tcp by default; udp only where listed', () => {
  const p = Policy.fromRules([rule({ to: ['dns.corp'], ports: ['53'], proto: ['udp'] }), rule({ to: ['web.corp'], ports: ['80'] })], 'gw.toml');
  assert.ok(allowed(p, req(alice, 'dns.corp', '10.0.0.53', 53, { proto: 'udp' })));
  assert.ok(!allowed(p, req(alice, 'dns.corp', '10.0.0.53', 53, { proto: 'tcp' })));
  assert.ok(allowed(p, req(alice, 'web.corp', '10.0.0.80', 80)));
  assert.ok(!allowed(p, req(alice, 'web.corp', '10.0.0.80', 80, { proto: 'udp' })));
});

test('listen rules are apart from connect rules; port 0 needs "*"', () => {
  const p = Policy.fromRules([rule({ who: ['user:alice'], to: ['127.0.0.1', '::1'], ports: ['8000-8099'], action: 'listen' })], 'gw.toml');
  const listen = (address: string, port: number) => allowed(p, req(alice, address, address, port, { action: 'listen' }));
  assert.ok(listen('127.0.0.1', 8080));
  assert.ok(listen('::1', 8080));
  assert.ok(!listen('0.0.0.0', 8080));
  assert.ok(!listen('127.0.0.1', 0));
  assert.ok(!allowed(p, req(alice, '127.0.0.1', '127.0.0.1', 8080)), 'a listen rule does not allow connect');
  const connectOnly = Policy.fromRules([rule({})], 'gw.toml');
  assert.ok(!allowed(connectOnly, req(alice, '0.0.0.0', '0.0.0.0', 8080, { action: 'listen' })), 'a connect rule does not allow listen');
  const any = Policy.fromRules([rule({ action: 'listen' })], 'gw.toml');
  assert.ok(allowed(any, req(alice, '0.0.0.0', '0.0.0.0', 0, { action: 'listen' })));
});

test('an allow names the rule that allowed it', () => {
  const p = Policy.fromRules([rule({ who: ['user:bob'] }), rule({ name: 'staff mail', who: ['group:staff'] }), rule({ who: ['role:site'] })], 'gw.toml');
  assert.deepEqual(p.check(req(alice, 'h', '10.0.0.1', 25)), { allow: true, rule: 'staff mail' });
  assert.deepEqual(p.check(req(branch, 'h', '10.0.0.1', 25)), { allow: true, rule: 'allow[2]' });
});

test('a denial names who, what, where, and what their rules allow', () => {
  const p = Policy.fromRules(
    [rule({ name: 'mail for staff', who: ['group:staff'], to: ['mail.example.com', '10.0.0.0/8'], ports: ['25', '143'] }), rule({ who: ['user:bob'] })],
    'gw.toml',
  );
  const d = p.check(req(alice, 'mail.example.com', '10.1.2.3', 110));
  assert.equal(d.allow, false);
  assert.ok(!d.allow);
  assert.equal(
    d.reason,
    'no policy rule lets user alice (site branch, group staff) connect to tcp mail.example.com (10.1.2.3) port 110; ' +
      'rules for alice allow only: "mail for staff" (tcp to mail.example.com, 10.0.0.0/8 ports 25, 143); ask the gateway admin to add one to the gateway config',
  );
  const none = p.check(req(branch, '10.9.9.9', '10.9.9.9', 22, { proto: 'udp' }));
  assert.ok(!none.allow);
  assert.equal(none.reason, 'no policy rule lets site branch connect to udp 10.9.9.9 port 22; ask the gateway admin to add one to the gateway config');
  const listen = p.check(req(svc, '0.0.0.0', '0.0.0.0', 8080, { action: 'listen' }));
  assert.ok(!listen.allow);
  assert.match(listen.reason, /^no policy rule lets client backup \(groups ops, staff\) listen on tcp 0\.0\.0\.0 port 8080; ask/);
  const weird = p.check(req(bob, 'bad\nhost', '', 1, { action: 'listen' }));
  assert.ok(!weird.allow);
  assert.ok(!weird.reason.includes('\n'), 'a hostile host name cannot split the log line');
});

/** The config error's message; fails on any other outcome. */
function configError(rules: unknown, where = 'gw.toml'): string {
  try {
    Policy.fromRules(rules as RuleConfig[], where);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'INSEL_CONFIG');
    assert.ok(err.message.startsWith(`${where}: `), err.message);
    return err.message;
  }
  assert.fail('accepted');
}

test('config errors name the path and the fix', () => {
  const cases: [unknown, RegExp][] = [
    [[rule({}), rule({}), rule({}), rule({ ports: ['70000'] })], /^gw\.toml: allow\[3\]\.ports\[0\]: "70000": ports are 1-65535/],
    [[rule({ ports: ['9000-8000'] })], /allow\[0\]\.ports\[0\]: "9000-8000": the range is backwards; write "8000-9000"/],
    [[rule({ ports: ['http'] })], /allow\[0\]\.ports\[0\]: "http" is not a port: use a port \("25"\), a range \("8000-9000"\) or "\*"/],
    [[rule({ ports: ['0'] })], /allow\[0\]\.ports\[0\]: "0": ports are 1-65535/],
    [[rule({ ports: [] })], /allow\[0\]\.ports: is empty: list at least one/],
    [[rule({ ports: [true] as never })], /allow\[0\]\.ports\[0\]: each entry must be a string/],
    [[rule({ who: [] })], /allow\[0\]\.who: is empty: list at least one, e.g. who = \["group:staff"\]/],
    [[rule({ who: ['usr:alice'] })], /allow\[0\]\.who\[0\]: "usr:alice" is not a selector: use "user:NAME"/],
    [[rule({ who: ['alice'] })], /allow\[0\]\.who\[0\]: "alice" is not a selector/],
    [[rule({ who: ['user:'] })], /allow\[0\]\.who\[0\]: "user:": "" is not a valid user name/],
    [[rule({ who: ['role:admin'] })], /allow\[0\]\.who\[0\]: "role:admin": unknown role/],
    [[rule({ who: ['user:alice@'] })], /allow\[0\]\.who\[0\]: "user:alice@": "" is not a valid site name after "@"; write user:NAME for a user the root issued, user:NAME@SITE for one site CA SITE issued/],
    [[rule({ who: ['user:alice@a@b'] })], /"user:alice@a@b": "a@b" is not a valid site name after "@"/],
    [[rule({ who: ['user:@branch'] })], /"user:@branch": "" is not a valid user name/],
    [[rule({ who: ['group:admins@branch'] })], /allow\[0\]\.who\[0\]: "group:admins@branch": only user: takes @SITE; write group:admins$/],
    [[rule({ who: ['site:branch@x'] })], /"site:branch@x": only user: takes @SITE/],
    [[rule({ to: [] })], /allow\[0\]\.to: is empty/],
    [[rule({ to: ['10.0.0.0/33'] })], /allow\[0\]\.to\[0\]: "10\.0\.0\.0\/33": prefix length must be 0-32/],
    [[rule({ to: ['::/129'] })], /prefix length must be 0-128/],
    [[rule({ to: ['10.0.0/8'] })], /allow\[0\]\.to\[0\]: "10\.0\.0\/8": "10\.0\.0" is not an IP address/],
    [[rule({ to: ['ok.example', 'not a host'] })], /allow\[0\]\.to\[1\]: "not a host" is not a destination: use a host name/],
    [[rule({ to: ['*.com'] })], /allow\[0\]\.to\[0\]: "\*\.com": a wildcard needs a domain of two labels or more/],
    [[rule({ to: ['mail.*.com'] })], /is not a destination/],
    [[rule({ proto: ['icmp'] as never })], /allow\[0\]\.proto\[0\]: use "tcp" or "udp"/],
    [[rule({ proto: [] })], /allow\[0\]\.proto: is empty/],
    [[rule({ action: 'bind' as never })], /allow\[0\]\.action: use "connect" or "listen"/],
    [[{ who: ['*'], to: ['*'] }], /allow\[0\]\.ports: missing/],
    [[{ ...rule({}), port: ['1'] }], /allow\[0\]\.port: unknown key \(misspelt\?\); a rule has keys name, who, to, ports, proto, action/],
    [['x'], /allow\[0\]: /],
    [{}, /allow: must be a list/],
  ];
  for (const [rules, re] of cases) assert.match(configError(rules), re);
});
