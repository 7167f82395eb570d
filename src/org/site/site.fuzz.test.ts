// What a peer or an admin hands the site gateway, fed random and almost-right
// input: insel-service values (parseServiceName), the rules matcher with any
// identity, and site.toml: each gives a value or a ConfigError, never
// anything else. A service name that parses is a fix-point of format-then-parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'smol-toml';
import { ConfigError } from '../../config/errors.js';
import { siteConfigFromText } from './config.js';
import { parseServiceName, ServiceRules } from './service-rules.js';

const RUNS = 1000;
const part = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('web', 'b', '*', '', 'a.b', 'x-y', '@', 'ü'));

test('parseServiceName: a value or undefined; what parses formats back to itself', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.tuple(part, part).map(([a, b]) => `${a}@${b}`)), (text) => {
      const p = parseServiceName(text);
      if (p !== undefined) assert.equal(`${p.service}@${p.site}`, text);
    }),
    { numRuns: RUNS },
  );
});

test('site.toml and [[allow_service]] from random tables: a config or a ConfigError; check never throws', () => {
  const rule = fc.record({ who: fc.array(fc.oneof(part, fc.constantFrom('group:eng', 'site:a', 'user:alice', 'role:user')), { maxLength: 3 }), services: fc.array(fc.oneof(part, fc.tuple(part, part).map(([a, b]) => `${a}@${b}`)), { maxLength: 3 }) }, { requiredKeys: [] });
  const doc = fc.record(
    {
      name: fc.oneof(part, fc.integer()),
      hq: fc.oneof(fc.constantFrom('127.0.0.1:7443', 'h:1', 'nope', ''), fc.string({ maxLength: 20 })),
      public: fc.constantFrom('x:1', 'bad'),
      allow_service: fc.array(rule, { maxLength: 3 }),
      service: fc.array(fc.record({ name: part, host: part, port: fc.integer({ min: -1, max: 70000 }), groups: fc.array(part, { maxLength: 2 }) }, { requiredKeys: [] }), { maxLength: 2 }),
      relays: fc.record({ relays_per_user: fc.integer({ min: -1, max: 10 }) }, { requiredKeys: [] }),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(doc, fc.tuple(part, part), (d, [svc, site]) => {
      let c;
      try {
        c = siteConfigFromText(stringify(d), '/x/site.toml');
      } catch (err) {
        if (err instanceof ConfigError) return;
        throw err;
      }
      const d1 = c.serviceRules.check({ org: 'O', role: 'user', name: 'alice', site: 'a', groups: ['eng'], serial: '1' }, svc, site);
      assert.equal(typeof d1.allow, 'boolean');
    }),
    { numRuns: RUNS },
  );
  assert.throws(() => ServiceRules.fromRules([{ who: ['*'], services: ['@'] }], 'x'), ConfigError);
});
