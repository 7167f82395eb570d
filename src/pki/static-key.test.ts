import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PkiError } from './errors.js';
import { formatStaticKey, generateStaticKey, parseStaticKey, readStaticKey, STATIC_KEY_BYTES, writeStaticKey } from './static-key.js';

const dir = mkdtempSync(join(tmpdir(), 'insel-statickey-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const badFile = (file: string, where: RegExp) => (e: unknown) => e instanceof PkiError && e.code === 'INSEL_PKI_BAD_FILE' && e.file === file && where.test(e.message);

describe('static key', () => {
  it('is in the OpenVPN Static key V1 format', () => {
    const text = generateStaticKey();
    assert.match(text, /^#\n# 2048 bit OpenVPN static key\n#\n-----BEGIN OpenVPN Static key V1-----\n([0-9a-f]{32}\n){16}-----END OpenVPN Static key V1-----\n$/);
    const key = parseStaticKey(text, 'k');
    assert.equal(key.length, STATIC_KEY_BYTES);
    assert.equal(formatStaticKey(key), text);
    assert.notEqual(generateStaticKey(), text);
  });

  it('accepts what OpenVPN accepts: CRLF, upper-case hex, comments, trailing blank lines', () => {
    const text = generateStaticKey();
    const key = parseStaticKey(text, 'k');
    const variant = `# a comment\n\n${text.toUpperCase().replace('-----BEGIN OPENVPN STATIC KEY V1-----', '-----BEGIN OpenVPN Static key V1-----').replace('-----END OPENVPN STATIC KEY V1-----', '-----END OpenVPN Static key V1-----')}\n\n`.replace(/\n/g, '\r\n');
    assert.deepEqual(parseStaticKey(variant, 'k'), key);
  });

  it('refuses bad files, naming the file and the line', () => {
    const lines = generateStaticKey().split('\n');
    const cases: [string, string, RegExp][] = [
      ['empty', '', /^f: expected "-----BEGIN/],
      ['no BEGIN', lines.slice(4).join('\n'), /^f:1: expected "-----BEGIN/],
      ['a non-hex line', [...lines.slice(0, 7), 'zz'.repeat(16), ...lines.slice(8)].join('\n'), /^f:8: not a line of hex digits/],
      ['an odd-length line', [...lines.slice(0, 5), '0', ...lines.slice(5)].join('\n'), /^f:6: not a line of hex/],
      ['no END', lines.slice(0, 20).join('\n'), /^f: "-----END OpenVPN Static key V1-----" is missing/],
      ['a short key', [...lines.slice(0, 4), ...lines.slice(5)].join('\n'), /^f: the key is 240 bytes, expected 256/],
      ['text after END', `${lines.join('\n')}\n\nextra`, /^f:24: unexpected text after/],
    ];
    for (const [what, text, where] of cases) assert.throws(() => parseStaticKey(text, 'f'), badFile('f', where), what);
  });

  it('writes mode 0600 and overwrites only with force', () => {
    const file = join(dir, 'ta.key');
    writeStaticKey(file, false);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const first = readFileSync(file, 'utf8');
    assert.equal(readStaticKey(file).length, 256);
    assert.throws(() => writeStaticKey(file, false), (e: unknown) => e instanceof PkiError && e.code === 'INSEL_PKI_EXISTS' && e.message.includes(file) && /--force/.test(e.message));
    assert.equal(readFileSync(file, 'utf8'), first);
    writeStaticKey(file, true);
    assert.notEqual(readFileSync(file, 'utf8'), first);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('reports a missing file as NOT_FOUND', () => {
    assert.throws(() => readStaticKey(join(dir, 'nope')), (e: unknown) => e instanceof PkiError && e.code === 'INSEL_PKI_NOT_FOUND');
  });

  it('yields a key or a PkiError on any input (property)', () => {
    const valid = generateStaticKey();
    const inputs = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.tuple(fc.nat(), fc.string({ maxLength: 4 }), fc.nat({ max: 3 })).map(([at, ins, del]) => {
        const i = at % valid.length;
        return valid.slice(0, i) + ins + valid.slice(i + del);
      }),
    );
    fc.assert(
      fc.property(inputs, (text) => {
        try {
          assert.equal(parseStaticKey(text, 'f').length, 256);
        } catch (e) {
          assert.ok(e instanceof PkiError && e.code === 'INSEL_PKI_BAD_FILE', String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
