// docs/TUNNEL-CONFIG.md stays accurate: every directive has a row in its
// table, and its example configs parse (the TOML one to the same config as
// its directive file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DIRECTIVES } from './directives.js';
import { parseTunnelConfig } from './index.js';

const DOC = readFileSync(fileURLToPath(new URL('../../../docs/TUNNEL-CONFIG.md', import.meta.url)), 'utf8');

/** The fenced blocks of the doc whose first line is "# NAME", by NAME. */
function examples(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of DOC.matchAll(/```(?:text|toml)\n# (\S+)\n([\s\S]*?)```/g)) out.set(m[1]!, m[2]!);
  return out;
}

test('every directive has a row in the reference table', () => {
  for (const name of Object.keys(DIRECTIVES)) assert.ok(DOC.includes(`\n| \`${name}\` |`), `docs/TUNNEL-CONFIG.md has no row for ${name}`);
});

test("the doc's examples parse; its TOML server is its directive-file server", () => {
  const ex = examples();
  assert.deepEqual([...ex.keys()].sort(), ['ca-client.conf', 'ca-server.conf', 'ca-server.toml', 'client.conf', 'server.conf']);
  assert.equal(parseTunnelConfig(ex.get('server.conf')!, '/d/server.conf').mode, 'static');
  assert.equal(parseTunnelConfig(ex.get('client.conf')!.replace('SERVER', '192.0.2.1'), '/d/client.conf').remotes[0]!.host, '192.0.2.1');
  assert.equal(parseTunnelConfig(ex.get('ca-client.conf')!, '/d/ca-client.conf').mode, 'client');
  const conf = parseTunnelConfig(ex.get('ca-server.conf')!, '/d/ca-server.conf');
  const toml = parseTunnelConfig(ex.get('ca-server.toml')!, '/d/ca-server.toml');
  assert.equal(conf.mode, 'server');
  assert.deepEqual({ ...toml, file: '' }, { ...conf, file: '' });
});
