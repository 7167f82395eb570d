// mergeBundle: a rollover's bundle (a root added) and a retirement's (a root
// dropped) are taken; one that shares no root with ours, or holds another
// org's root, is refused whatever else it holds.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeBundle } from './bundle-refresh.js';
import { initCa } from './ca.js';
import { PkiError } from './errors.js';
import { retireCa, rolloverCa } from './rollover.js';
import { makeTestPki, type TestPki } from './testing.js';

let pki: TestPki;
let impostorDir: string;
let gen1: string;
let both: string;
let gen2: string;
let impostor: string;
before(async () => {
  pki = await makeTestPki();
  const caFile = join(pki.dir, 'ca.crt');
  gen1 = readFileSync(caFile, 'utf8');
  await rolloverCa({ dir: pki.dir });
  both = readFileSync(caFile, 'utf8');
  await retireCa({ dir: pki.dir, generation: 1 });
  gen2 = readFileSync(caFile, 'utf8');
  impostorDir = mkdtempSync(join(tmpdir(), 'insel-impostor-'));
  await initCa({ dir: impostorDir, org: 'Test' }); // same org name, another key
  impostor = readFileSync(join(impostorDir, 'ca.crt'), 'utf8');
});
after(() => {
  pki.cleanup();
  rmSync(impostorDir, { recursive: true, force: true });
});

const refusal = (fn: () => unknown): PkiError => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PkiError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
};

test('the same bundle changes nothing; a rollover adds the new root, a retirement drops the old one', () => {
  assert.equal(mergeBundle(gen1, gen1, 'gw', 'ca.pem'), undefined);
  const rolled = mergeBundle(gen1, both, 'gw', 'ca.pem')!;
  assert.equal(rolled.added.length, 1);
  assert.match(rolled.added[0]!, /"insel root CA 2"/);
  assert.deepEqual(rolled.dropped, []);
  const retired = mergeBundle(rolled.pem, gen2, 'gw', 'ca.pem')!;
  assert.deepEqual(retired.added, []);
  assert.match(retired.dropped[0]!, /"insel root CA" \(serial/);
});

test('a bundle that would drop every root we trust is refused, saying so and what to do', () => {
  for (const [held, offered] of [
    [gen1, gen2],
    [gen1, impostor],
    [both, impostor],
  ] as const) {
    const e = refusal(() => mergeBundle(held, offered, 'gateway gw:7444', '/p/ca.pem'));
    assert.equal(e.code, 'INSEL_CA_UNTRUSTED');
    assert.match(e.message, /trust bundle from gateway gw:7444 contains none of the root CAs in \/p\/ca\.pem .*refused, \/p\/ca\.pem kept.*log in again/);
  }
});

test('another organization\'s root is refused even beside ours; a leaf is not a bundle', () => {
  const e = refusal(() => mergeBundle(gen1, gen1 + pki.foreign.ca, 'gw', 'ca.pem'));
  assert.equal(e.code, 'INSEL_CA_UNTRUSTED');
  assert.match(e.message, /of organization "Other", not ours \("Test"\)/);
  assert.equal(refusal(() => mergeBundle(gen1, gen1 + pki.profile('alice').cert, 'gw', 'ca.pem')).code, 'INSEL_PKI_BAD_FILE');
});
