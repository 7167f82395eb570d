// Every parser of user input the forward configs use (specs, addresses,
// durations, both loaders, policy), fed random and almost-right input: each
// returns a value or throws its typed error (ForwardError, AddressError,
// ConfigError), never TypeError or anything else. Specs that parse are a fix-point of
// format-then-parse; valid specs built from parts parse back to those parts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'smol-toml';
import type { Identity } from '../pki/identity.js';
import { durationField } from '../config/duration.js';
import { ConfigError } from '../config/errors.js';
import { AddressError, isHost, parseBindPort, parseHostPort } from '../net/host-port.js';
import { ForwardError } from './errors.js';
import { forwardsConfigFromText } from './forwards-config.js';
import { gatewayConfigFromText } from '../gateway/config.js';
import { Policy, type AccessRequest, type RuleConfig } from '../policy/policy.js';
import { formatForwardSpec, parseForwardSpec, type ForwardKind } from './spec.js';

const RUNS = 1500;

/** Runs `f`; a typed parser error counts as a clean refusal, anything else fails the property. */
function valueOrTypedError<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    if (err instanceof ForwardError || err instanceof AddressError || err instanceof ConfigError) return undefined;
    throw err;
  }
}

// Text biased toward the grammar: colons, brackets, digits, hex, dots, stars.
const specChars = fc.constantFrom(...':[]*.0123456789abcdefx-_/ %'.split(''), '::', '65535', '4433', '[::1]', 'localhost', '\u00e9', '\n');
const specish = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.array(specChars, { maxLength: 20 }).map((a) => a.join('')));
const kind = fc.constantFrom<ForwardKind>('L', 'R', 'U');

test('fuzz: parseForwardSpec returns a sane spec or ForwardError; parsed specs are a format fix-point', () => {
  fc.assert(
    fc.property(kind, specish, (k, text) => {
      const spec = valueOrTypedError(() => parseForwardSpec(k, text));
      if (spec === undefined) return;
      assert.ok(spec.port >= 0 && spec.port <= 65535 && spec.hostPort >= 1 && spec.hostPort <= 65535);
      assert.ok(isHost(spec.host) && isHost(spec.bind), JSON.stringify(spec));
      const again = parseForwardSpec(k, formatForwardSpec(spec));
      assert.deepEqual({ ...again, text: '' }, { ...spec, text: '' });
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: parseHostPort, parseBindPort, durationField return a value or their typed error', () => {
  fc.assert(
    fc.property(specish, fc.boolean(), (text, zero) => {
      const hp = valueOrTypedError(() => parseHostPort(text, '--via', { allowPortZero: zero }));
      if (hp) assert.ok(isHost(hp.host) && hp.port >= (zero ? 0 : 1) && hp.port <= 65535);
      const bp = valueOrTypedError(() => parseBindPort(text, 'listen'));
      if (bp) assert.ok(isHost(bp.bind) && bp.port >= 0 && bp.port <= 65535);
      const ms = valueOrTypedError(() => durationField('f', 'x', text, 0));
      if (ms !== undefined) assert.ok(Number.isInteger(ms) && ms >= 1);
    }),
    { numRuns: RUNS },
  );
  // Not strings at all, as from an untyped caller.
  fc.assert(
    fc.property(fc.anything(), (v) => {
      valueOrTypedError(() => parseForwardSpec('L', v as string));
      valueOrTypedError(() => parseHostPort(v as string, '--via'));
      valueOrTypedError(() => parseBindPort(v as string, 'listen'));
      valueOrTypedError(() => durationField('f', 'x', v as string, 0));
    }),
    { numRuns: 300 },
  );
});

const v6 = fc.ipV6().map((a) => `[${a}]`);
const hostArb = fc.oneof(fc.domain(), fc.ipV4(), v6);
const portArb = fc.integer({ min: 0, max: 65535 });

test('fuzz: valid specs built from parts parse back to those parts', () => {
  fc.assert(
    fc.property(kind, fc.option(fc.oneof(hostArb, fc.constant('*'))), portArb, hostArb, fc.integer({ min: 1, max: 65535 }), (k, bind, port, host, hostPort) => {
      const text = `${bind === null ? '' : `${bind}:`}${port}:${host}:${hostPort}`;
      const spec = parseForwardSpec(k, text);
      const unbracket = (h: string) => h.replace(/^\[(.*)\]$/, '$1');
      assert.deepEqual(spec, { kind: k, bind: bind === null ? '127.0.0.1' : bind === '*' ? '0.0.0.0' : unbracket(bind), port, host: unbracket(host), hostPort, text });
    }),
    { numRuns: RUNS },
  );
});

// Values a config might hold: right-looking strings for each key, and wrong types.
const plausible = fc.oneof(
  fc.constantFrom('0.0.0.0:4433', '[::]:0', 'gw:1', '30s', '500ms', '0s', 'info', 'local', 'remote', 'udp', 'tcp', '*', 'group:staff', 'user:', 'role:x', '10.0.0.0/8', '::/129', '*.example.com', '25', '8000-9000', '9-1', 'gw', ''),
  hostArb,
  portArb.map(String),
);
const scalar = fc.oneof(plausible, fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.double(), fc.constant(12345678901234567890n));
const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 3 }));
const GATEWAY_KEYS = ['listen', 'udp_listen', 'profile', 'cert', 'key', 'ca', 'crl', 'udp_idle_timeout', 'connect_timeout', 'log_level'];
const FORWARDS_KEYS = ['via', 'profile', 'cert', 'key', 'ca', 'crl', 'reconnect_min', 'reconnect_max'];
const tableOf = (keys: string[]) => fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 6 })), value, { maxKeys: 8 });
const ruleArb = fc.dictionary(fc.constantFrom('name', 'who', 'to', 'ports', 'proto', 'action', 'port'), fc.oneof(value, fc.array(plausible, { maxLength: 3 })), { maxKeys: 6 });
const forwardArb = fc.dictionary(fc.constantFrom('type', 'listen', 'to', 'ftp', 'port'), fc.oneof(value, plausible), { maxKeys: 5 });

/** smol-toml cannot write every object (e.g. mixed arrays in old TOML); those inputs are skipped. */
function toToml(obj: object): string | undefined {
  try {
    return stringify(obj);
  } catch {
    return undefined;
  }
}

test('fuzz: random config objects into both loaders give a config or ConfigError', () => {
  fc.assert(
    fc.property(tableOf(GATEWAY_KEYS), fc.option(fc.array(ruleArb, { maxLength: 3 })), (top, allow) => {
      const text = toToml(allow === null ? top : { ...top, allow });
      if (text !== undefined) valueOrTypedError(() => gatewayConfigFromText(text, '/etc/insel/gw.toml'));
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(tableOf(FORWARDS_KEYS), fc.option(fc.array(forwardArb, { maxLength: 3 })), (top, forward) => {
      const text = toToml(forward === null ? top : { ...top, forward });
      if (text !== undefined) valueOrTypedError(() => forwardsConfigFromText(text, '/etc/insel/f.toml'));
    }),
    { numRuns: RUNS },
  );
});

// Lines that look like TOML, right or wrong.
const tomlLine = fc.oneof(
  fc.tuple(fc.constantFrom(...GATEWAY_KEYS, ...FORWARDS_KEYS, 'who', 'to', 'ports', 'type', 'ftp', 'x'), fc.constantFrom(' = ', '=', ' '), fc.oneof(plausible.map((s) => JSON.stringify(s)), fc.constantFrom('1', 'true', '[', ']', '["*"]', '[1, "a"]', '"""', "'", '{a=1}', '1979-05-27', 'inf', '0x1F', '"\\u00"'))).map((p) => p.join('')),
  fc.constantFrom('[[allow]]', '[[forward]]', '[allow]', '[[allow', '# comment', '', '[a.b]', 'a.b = 1', '[[allow.x]]'),
  fc.string({ maxLength: 20 }),
);

test('fuzz: TOML-ish text into both loaders gives a config or ConfigError', () => {
  fc.assert(
    fc.property(fc.array(tomlLine, { maxLength: 14 }), (lines) => {
      const text = lines.join('\n');
      valueOrTypedError(() => gatewayConfigFromText(text, 'gw.toml'));
      valueOrTypedError(() => forwardsConfigFromText(text, 'f.toml'));
    }),
    { numRuns: RUNS },
  );
});

const identityArb: fc.Arbitrary<Identity> = fc.record({
  org: fc.constant('Acme'),
  role: fc.constantFrom('hq', 'site', 'user', 'server', 'client'),
  name: fc.constantFrom('alice', 'bob', 'branch'),
  site: fc.option(fc.constantFrom('branch', 'hq'), { nil: undefined }),
  groups: fc.subarray(['staff', 'ops']),
  serial: fc.constant('1'),
});
const requestArb: fc.Arbitrary<AccessRequest> = fc.record({
  identity: identityArb,
  action: fc.constantFrom('connect', 'listen'),
  proto: fc.constantFrom('tcp', 'udp'),
  host: fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 10 })),
  address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((a) => `::ffff:${a}`), fc.string({ maxLength: 10 })),
  port: fc.oneof(portArb, fc.integer(), fc.double()),
});

// Mostly valid entries, so that most rule lists compile and check() gets exercised.
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>) => fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: bad, weight: 1 });
const listOf = (a: fc.Arbitrary<unknown>) => fc.array(a, { minLength: 1, maxLength: 3 });
const likelyRule = fc.record(
  {
    name: fc.string({ maxLength: 8 }),
    who: listOf(mostly(fc.constantFrom('*', 'user:alice', 'group:staff', 'site:branch', 'role:site', 'role:user'), plausible)),
    to: listOf(mostly(fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6(), fc.tuple(fc.ipV4(), fc.nat(32)).map(([a, n]) => `${a}/${n}`), fc.tuple(fc.ipV6(), fc.nat(128)).map(([a, n]) => `${a}/${n}`), fc.domain().map((d) => `*.${d}`), fc.constant('*')), plausible)),
    ports: listOf(mostly(fc.oneof(fc.integer({ min: 1, max: 65535 }).map(String), fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 })).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`), fc.constant('*')), scalar)),
    proto: fc.subarray(['tcp', 'udp'] as const, { minLength: 1 }),
    action: fc.constantFrom('connect', 'listen'),
  },
  { requiredKeys: ['who', 'to', 'ports'] },
);

test('fuzz: Policy.fromRules gives a policy or ConfigError; check never throws and denies with a one-line reason', () => {
  let built = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.oneof(fc.array(likelyRule, { maxLength: 4 }), fc.array(ruleArb, { maxLength: 4 }), fc.anything()), fc.array(requestArb, { maxLength: 5 }), (rules, reqs) => {
      runs++;
      const policy = valueOrTypedError(() => Policy.fromRules(rules as RuleConfig[], 'gw.toml'));
      if (policy === undefined) return;
      built++;
      for (const r of reqs) {
        const d = policy.check(r);
        if (!d.allow) assert.ok(d.reason.startsWith('no policy rule lets ') && !d.reason.includes('\n'), d.reason);
      }
    }),
    { numRuns: RUNS },
  );
  assert.ok(built > runs / 5, `only ${built} of ${runs} rule lists compiled: the fuzz misses check()`);
});

const hostPortArb = fc.tuple(hostArb, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`);
const durationArb = mostly(fc.tuple(fc.integer({ min: 1, max: 999 }), fc.constantFrom('ms', 's', 'm')).map(([n, u]) => `${n}${u}`), scalar);

test('fuzz: likely-valid configs mostly load, and what loads is consistent', () => {
  let loaded = 0;
  fc.assert(
    fc.property(
      fc.record({ listen: mostly(hostPortArb, scalar), udp_listen: mostly(hostPortArb, scalar), profile: fc.constantFrom('gw', '/etc/gw'), connect_timeout: durationArb, allow: fc.array(likelyRule, { maxLength: 3 }) }, { requiredKeys: ['listen', 'profile'] }),
      fc.record({
        via: mostly(hostPortArb, scalar),
        cert: fc.constant('c'),
        key: fc.constant('k'),
        ca: fc.constant('a'),
        reconnect_max: durationArb,
        forward: fc.array(fc.record({ type: mostly(fc.constantFrom('local', 'remote', 'udp'), scalar), listen: mostly(fc.oneof(portArb, portArb.map(String), fc.tuple(hostArb, portArb).map(([h, p]) => `${h}:${p}`)), scalar), to: mostly(hostPortArb, scalar), ftp: fc.boolean() }, { requiredKeys: ['type', 'listen', 'to'] }), { minLength: 1, maxLength: 3 }),
      }),
      (gw, fw) => {
        const g = valueOrTypedError(() => gatewayConfigFromText(toToml(gw) ?? '', '/etc/insel/gw.toml'));
        if (g) assert.ok(g.policy.size === gw.allow?.length || gw.allow === undefined);
        const f = valueOrTypedError(() => forwardsConfigFromText(toToml(fw) ?? '', '/etc/insel/f.toml'));
        if (f) {
          loaded++;
          assert.equal(f.forwards.length, fw.forward.length);
          for (const x of f.forwards) assert.ok(!x.ftp || x.kind === 'L');
        }
        if (g) loaded++;
      },
    ),
    { numRuns: 800 },
  );
  assert.ok(loaded > 200, `only ${loaded} configs loaded`);
});

/** The slow reference for IPv4: compare the top `bits` bits as integers. */
function inCidr(address: string, net: string, bits: number): boolean {
  const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const block = 2 ** (32 - bits);
  return Math.floor(n(address) / block) === Math.floor(n(net) / block);
}

test('fuzz: IPv4 CIDRs and port ranges agree with a slow reference', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.ipV4(), fc.nat(32)), { minLength: 1, maxLength: 3 }),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.nat(2000)), { minLength: 1, maxLength: 3 }),
      fc.array(fc.tuple(fc.ipV4(), fc.boolean(), portArb), { maxLength: 20 }),
      (nets, ranges, reqs) => {
        const ports = ranges.map(([lo, len]) => [lo, Math.min(65535, lo + len)] as const);
        const policy = Policy.fromRules([{ who: ['*'], to: nets.map(([a, b]) => `${a}/${b}`), ports: ports.map(([lo, hi]) => `${lo}-${hi}`) }], 'gw.toml');
        for (const [address, mapped, port] of reqs) {
          const expect = nets.some(([net, bits]) => inCidr(address, net, bits)) && ports.some(([lo, hi]) => port >= lo && port <= hi);
          const identity: Identity = { org: 'Acme', role: 'user', name: 'alice', groups: [], serial: '1' };
          const d = policy.check({ identity, action: 'connect', proto: 'tcp', host: 'h.example', address: mapped ? `::ffff:${address}` : address, port });
          assert.equal(d.allow, expect, `${address} port ${port} against ${JSON.stringify(nets)} ${JSON.stringify(ports)}`);
        }
      },
    ),
    { numRuns: 500 },
  );
});
