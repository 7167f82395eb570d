// parseCode on anything a person or a peer may type: random text, codes with
// characters replaced, cut, or padded. Either a code whose parts have the
// documented shape, or EnrollError INSEL_CODE_MALFORMED; nothing else.
// A parsed code re-joins to the trimmed, lowercased input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { newCode, parseCode, type ParsedCode } from './code.js';
import { EnrollError } from './errors.js';

const RUNS = 3000;
const sample = newCode(Buffer.from('root')).text;

function codeOrMalformed(text: unknown): ParsedCode | undefined {
  try {
    return parseCode(text as string);
  } catch (err) {
    if (err instanceof EnrollError && err.code === 'INSEL_CODE_MALFORMED') return undefined;
    throw err;
  }
}

const near = fc.tuple(fc.nat(), fc.constantFrom('', '-', '0', '1', '8', 'A', 'z', '7', ' ', '\u00e9', 'insel-', '\n'), fc.nat({ max: 3 })).map(([at, ins, drop]) => {
  const i = at % (sample.length + 1);
  return sample.slice(0, i) + ins + sample.slice(i + drop);
});

test('fuzz: parseCode returns a well-shaped code or INSEL_CODE_MALFORMED', () => {
  let parsed = 0;
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 90 }), fc.string({ unit: 'binary', maxLength: 90 }), near, fc.anything()), (text) => {
      const c = codeOrMalformed(text);
      if (c === undefined) return;
      parsed++;
      assert.match(c.id, /^[a-z2-7]{16}$/);
      assert.match(c.secret, /^[a-z2-7]{32}$/);
      assert.match(c.pin, /^[a-z2-7]{12}$/);
      assert.equal(c.secretHash.length, 32);
      assert.equal(`insel-${c.id}-${c.secret}-${c.pin}`, (text as string).trim().toLowerCase());
    }),
    { numRuns: RUNS },
  );
  assert.ok(parsed > 0, 'no input parsed: the fuzz never reaches the success path');
});
