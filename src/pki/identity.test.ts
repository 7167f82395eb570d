// The identity URI: one canonical spelling, round trips, and a parser that
// never throws on anything.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UsageError } from '../errors.js';
import { encodeIdentityUri, parseIdentityUri, ROLES, type Identity } from './identity.js';

type Id = Omit<Identity, 'serial'>;

describe('identity URI', () => {
  const cases: [Id, string][] = [
    [{ org: 'Test', role: 'user', name: 'alice', groups: [] }, 'insel://Test/user/alice'],
    [{ org: 'Test', role: 'user', name: 'bob', site: 'branch', groups: [] }, 'insel://Test/user/bob?site=branch'],
    [{ org: 'Test', role: 'server', name: 'srv', groups: ['ops', 'db'] }, 'insel://Test/server/srv?group=ops&group=db'],
    [{ org: 'Zürich AG / R&D', role: 'hq', name: 'hq.1', site: 's-1', groups: ['a_b'] }, 'insel://Z%C3%BCrich%20AG%20%2F%20R%26D/hq/hq.1?site=s-1&group=a_b'],
  ];
  for (const [id, uri] of cases) {
    it(`encodes and parses ${uri}`, () => {
      assert.equal(encodeIdentityUri(id), uri);
      assert.deepEqual(parseIdentityUri(uri), id);
    });
  }

  const refused: [string, string][] = [
    ['lower-case percent escape', 'insel://Z%c3%bcrich/user/alice'],
    ['needless escape', 'insel://T%65st/user/alice'],
    ['group before site', 'insel://Test/user/bob?group=g&site=branch'],
    ['two sites', 'insel://Test/user/bob?site=a&site=b'],
    ['unknown parameter', 'insel://Test/user/bob?team=a'],
    ['empty query', 'insel://Test/user/bob?'],
    ['empty site', 'insel://Test/user/bob?site='],
    ['parameter without value', 'insel://Test/user/bob?site'],
    ['extra path segment', 'insel://Test/user/bob/x'],
    ['missing name', 'insel://Test/user'],
    ['unknown role', 'insel://Test/admin/bob'],
    ['upper-case scheme', 'INSEL://Test/user/bob'],
    ['other scheme', 'https://Test/user/bob'],
    ['name with a space', 'insel://Test/user/bo%20b'],
    ['name too long', `insel://Test/user/${'a'.repeat(65)}`],
    ['broken escape', 'insel://Te%zzst/user/bob'],
    ['control character in org', 'insel://T%0Aest/user/bob'],
    ['two question marks', 'insel://Test/user/bob?site=a?b'],
    ['fragment', 'insel://Test/user/bob#x'],
  ];
  for (const [what, uri] of refused) {
    it(`refuses ${what}`, () => assert.equal(parseIdentityUri(uri), undefined));
  }

  it('refuses to encode an invalid identity, naming the field', () => {
    assert.throws(() => encodeIdentityUri({ org: 'Test', role: 'user', name: 'a b', groups: [] }), (e: unknown) => e instanceof UsageError && /name "a b"/.test(e.message));
    assert.throws(() => encodeIdentityUri({ org: 'Test', role: 'root' as never, name: 'a', groups: [] }), (e: unknown) => e instanceof UsageError && /role/.test(e.message));
    assert.throws(() => encodeIdentityUri({ org: '', role: 'user', name: 'a', groups: [] }), UsageError);
    assert.throws(() => encodeIdentityUri({ org: 'T', role: 'user', name: 'a', groups: ['x/y'] }), /group/);
  });

  const nameArb = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/);
  const idArb: fc.Arbitrary<Id> = fc.record({
    org: fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }).filter((o) => !/[\p{Cc}\p{Cs}]/u.test(o)),
    role: fc.constantFrom(...ROLES),
    name: nameArb,
    site: fc.option(nameArb, { nil: undefined }),
    groups: fc.array(nameArb, { maxLength: 4 }),
  }).map(({ site, ...rest }) => (site === undefined ? rest : { ...rest, site }));

  it('round-trips every valid identity (property)', () => {
    fc.assert(
      fc.property(idArb, (id) => {
        assert.deepEqual(parseIdentityUri(encodeIdentityUri(id)), id);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws, whatever the input (property)', () => {
    const inputs = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string().map((s) => `insel://${s}`),
      idArb.chain((id) =>
        fc.tuple(fc.nat(), fc.string({ maxLength: 3 })).map(([at, ins]) => {
          const uri = encodeIdentityUri(id);
          const i = at % (uri.length + 1);
          return uri.slice(0, i) + ins + uri.slice(i + 1);
        }),
      ),
    );
    fc.assert(
      fc.property(inputs, (s) => {
        const id = parseIdentityUri(s);
        // whatever parses is canonical: it encodes back to the very same text
        if (id !== undefined) assert.equal(encodeIdentityUri(id), s);
      }),
      { numRuns: 2000 },
    );
  });
});
