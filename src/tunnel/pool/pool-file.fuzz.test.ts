// The pool file is ours, but a disk, an editor or a restore can mangle it:
// any text gives entries or a ConfigError naming file:line, nothing else, and
// written entries read back unchanged.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigError } from '../../config/errors.js';
import { readPoolFile, writePoolFile } from './pool-file.js';

const dir = mkdtempSync(join(tmpdir(), 'insel-poolfuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'ipp.txt');

const piece = fc.oneof(fc.string(), fc.constantFrom(',', '\n', '#', '10.8.0.2', 'fd00::1000', 'alice', ',,', '\r\n', '::', '1.2.3'));

test('any text: entries or ConfigError at file:line', () => {
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
      writeFileSync(file, parts.join(''));
      try {
        for (const e of readPoolFile(file)) assert.ok(e.ipv4 !== undefined || e.ipv6 !== undefined);
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, new RegExp(`^${file.replace(/[.]/g, '\\.')}:\\d+: `));
      }
    }),
    { numRuns: 1000 },
  );
});

test('written entries read back', () => {
  const identity = fc.stringMatching(/^[A-Za-z0-9._@:/-]{1,40}$/);
  const entry = fc.record({ identity, ipv4: fc.option(fc.ipV4(), { nil: undefined }), ipv6: fc.ipV6() });
  fc.assert(
    fc.property(fc.uniqueArray(entry, { selector: (e) => e.identity, maxLength: 20 }), (entries) => {
      const clean = entries.map((e) => ({ identity: e.identity, ...(e.ipv4 === undefined ? {} : { ipv4: e.ipv4 }), ipv6: e.ipv6 }));
      writePoolFile(file, clean);
      assert.deepEqual(
        readPoolFile(file).map(({ line: _line, ...e }) => e),
        clean,
      );
    }),
    { numRuns: 200 },
  );
});
