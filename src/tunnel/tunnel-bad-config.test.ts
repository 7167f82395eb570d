// Bad configs make the real CLI exit non-zero before anything starts, with
// stderr naming file:line and a hint: an unknown directive, a missing key
// file, a key open to others, an old cipher, and (in a namespace) a UDP
// port another program holds.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsLab, netnsMissing, waitForLine } from '../hostnet/netns-testing.js';
import { CLI, insel, startTunnel, tempDir, writeConfig } from './tunnel-testing.js';

const STATIC = ['dev tun', 'ifconfig 10.0.0.1 10.0.0.2', 'secret static.key'];

/** A static-key server config (with a fresh key) plus `extra` lines; returns its path. */
async function config(name: string, extra: readonly string[], base: readonly string[] = STATIC): Promise<string> {
  const dir = tempDir(`tun-bad-${name}`);
  await insel(['genkey', '--secret', join(dir, 'static.key')]);
  return writeConfig(dir, 'server.conf', [...base, ...extra]);
}

/** `insel tunnel --config FILE` run to its (prompt) failure: exit status and stderr. */
function failing(file: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'tunnel', '--config', file], { encoding: 'utf8', timeout: 20_000 });
  assert.notEqual(r.status, 0, `the CLI must fail; it printed: ${r.stdout}${r.stderr}`);
  assert.notEqual(r.status, null, `the CLI must exit by itself (signal ${r.signal}); it printed: ${r.stdout}${r.stderr}`);
  return { status: r.status, stderr: r.stderr };
}

test('an unknown directive: file:line and the closest known one', async () => {
  const file = await config('unknown', ['keepalve 10 60']);
  const { stderr } = failing(file);
  assert.ok(stderr.includes(`${file}:4`), stderr);
  assert.match(stderr, /keepalve/);
  assert.match(stderr, /did you mean keepalive/);
});

test('a missing key file: file:line and the path', async () => {
  const file = await config('missing', [], ['dev tun', 'ifconfig 10.0.0.1 10.0.0.2', 'secret nowhere.key']);
  const { stderr } = failing(file);
  assert.ok(stderr.includes(`${file}:3`), stderr);
  assert.match(stderr, /nowhere\.key/);
  assert.match(stderr, /genkey|not found|no such|does not exist/i, 'a hint how to get one');
});

test('a key with loose permissions (0644): file:line and chmod 600', async () => {
  const file = await config('loose', []);
  chmodSync(join(file, '..', 'static.key'), 0o644);
  const { stderr } = failing(file);
  assert.ok(stderr.includes(`${file}:3`), stderr);
  assert.match(stderr, /0644/);
  assert.match(stderr, /chmod 600/);
});

test('an old cipher (BF-CBC): file:line and AES-256-GCM named', async () => {
  const file = await config('cipher', ['cipher BF-CBC']);
  const { stderr } = failing(file);
  assert.ok(stderr.includes(`${file}:4`), stderr);
  assert.match(stderr, /BF-CBC/);
  assert.match(stderr, /AES-256-GCM/);
});

const skipNs = netnsMissing();
let lab: NetnsLab | undefined;
after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

test('a UDP port in use: names the port, the config line and a hint', { skip: skipNs, timeout: 30_000 }, async () => {
  lab = await NetnsLab.create('tunbadport');
  const ns = await lab.ns('a');
  const holder = lab.node(ns, '-e', [`require('dgram').createSocket('udp6').bind(1194,'::',()=>console.log('bound'))`]);
  await waitForLine(holder, 'bound');
  const file = await config('port', ['port 1194']);
  const t = startTunnel(lab, ns, file);
  const [code] = (await once(t.child, 'exit')) as [number | null];
  const out = t.output();
  assert.notEqual(code, 0, out);
  assert.notEqual(code, null, `exits by itself: ${out}`);
  assert.match(out, /1194/);
  assert.match(out, /in use/i);
  assert.match(out, /another tunnel running|choose another port/, 'a hint');
  assert.ok(out.includes(`${file}:4`), `names the port's line: ${out}`);
});
