// The examples are documentation that must keep working: run each as a
// reader would and check what it prints.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const run = (name: string) => execFileSync(process.execPath, [fileURLToPath(new URL(`./${name}.js`, import.meta.url))], { encoding: 'utf8', timeout: 60_000 });

it('examples/tcp-echo echoes every message whole', () => {
  const out = run('tcp-echo');
  assert.match(out, /server: user alice connected with TLS_/);
  assert.equal(out.match(/equal: true/g)?.length, 3, out);
  assert.doesNotMatch(out, /equal: false/);
});

it('examples/udp-echo echoes every message whole, across a client port change', () => {
  const out = run('udp-echo');
  assert.equal(out.match(/equal: true/g)?.length, 4, out);
  assert.match(out, /1 roam\(s\), drops \{\}/);
});
