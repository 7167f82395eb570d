// The tunnel config parser on random input: lines built from real directive
// names and plausible or hostile arguments, random bytes, and random TOML.
// Every outcome is a TunnelConfig or a ConfigError starting with file:line:,
// nothing else (no TypeError, no RangeError, no hang: every input is bounded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../config/errors.js';
import { DIRECTIVES } from './directives.js';
import { parseTunnelConfig, type TunnelConfig } from './index.js';

const RUNS = 1500;
const NAMES = [...Object.keys(DIRECTIVES), 'persist-key', 'keepalve', '--dev', '<ca>', '</ca>', 'constructor', '__proto__', 'toString', ''];
const ARGS = [
  'tun', 'tap', 'tun0', 'udp', 'tcp', '1194', '0', '65536', '-1', '10', '60', '1420', '1.5', 'def1', 'no', 'lz4', 'stub',
  '10.0.0.1', '10.0.0.2', '10.8.0.0', '255.255.255.0', '255.0.255.0', '256.1.1.1', 'fd00::1/64', 'fd00::/64', '::', 'fe80::1%eth0', '::ffff:1.2.3.4/120',
  'AES-256-GCM', 'BF-CBC', 'AES-256-GCM:CHACHA20-POLY1305', ':', 'SHA256', 'MD5', 'via-env', 'static.key', '../k', '/abs/path',
  '"route 10.1.0.0 255.255.0.0"', '"redirect-gateway def1"', '"route-ipv6 fd00::/64"', "'single quoted'", '"unclosed', "'unclosed", '\\', '\\\\', '\\"', '#', ';', '""',
  'vpn.example.com', 'a'.repeat(300), '\u0000', '\u00ff', '\uFEFF', '💥',
];
const sep = fc.constantFrom(' ', '\t', '  ', '\r', '');
const token = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...ARGS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
const line = fc.tuple(sep, fc.constantFrom(...NAMES), fc.array(fc.tuple(sep, token).map(([s, t]) => ` ${s}${t}`), { maxLength: 4 })).map(([s, n, a]) => `${s}${n}${a.join('')}`);
const eol = fc.constantFrom('\n', '\r\n', '\n\n');
const file = fc.array(fc.tuple(line, eol).map(([l, e]) => l + e), { maxLength: 14 }).map((ls) => ls.join(''));
const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'));

const tomlValue = fc.oneof(
  fc.constantFrom('true', 'false', '1194', '1.5', '-3', '"tun"', '"10.0.0.1 10.0.0.2"', '["a", 1]', '[["a", 1], "b"]', '[[1, [2]]]', '{ a = 1 }', '"', '[', '1979-05-27', 'inf', 'nan'),
  fc.string({ maxLength: 10 }).map((s) => JSON.stringify(s)),
);
const tomlKey = fc.oneof(fc.constantFrom(...NAMES.map((n) => n.replaceAll('-', '_')), 'comp-lzo', '"quoted key"', 'a.b', '[table]'), fc.string({ maxLength: 8 }));
const toml = fc.array(fc.tuple(tomlKey, tomlValue).map(([k, v]) => (k.startsWith('[') ? `${k}\n` : `${k} = ${v}\n`)), { maxLength: 12 }).map((ls) => ls.join(''));

function outcome(text: string, name: string): TunnelConfig | ConfigError {
  try {
    return parseTunnelConfig(text, name);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError for ${JSON.stringify(text)}: ${String(err)}`, { cause: err });
    assert.match(err.message, new RegExp(`^${name.replaceAll('.', '\\.')}:\\d+:`), `for ${JSON.stringify(text)}`);
    return err;
  }
}

test('directive files from real names and hostile arguments', () => {
  fc.assert(fc.property(file, (text) => void outcome(text, 'f.conf')), { numRuns: RUNS });
});

test('seed-like files with one line changed', () => {
  const seed = ['dev tun', 'ifconfig 10.0.0.1 10.0.0.2', 'secret static.key', 'comp-lzo'];
  fc.assert(fc.property(fc.nat(seed.length), line, (i, l) => {
    const lines = [...seed];
    lines.splice(i, 0, l);
    void outcome(lines.join('\n'), 'f.conf');
  }), { numRuns: RUNS });
});

test('random bytes', () => {
  fc.assert(fc.property(bytes, (text) => void outcome(text, 'f.conf')), { numRuns: RUNS });
});

test('random TOML', () => {
  fc.assert(fc.property(toml, (text) => void outcome(text, 'f.toml')), { numRuns: RUNS });
});
