// splitLine against OpenVPN's parse_line behaviour (options.c), case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ARG_CHARS, MAX_ARGS, splitLine } from './line.js';

class LineFailed extends Error {}
const fail = (problem: string, hint: string): never => {
  throw new LineFailed(`${problem}; ${hint}`);
};
const split = (line: string) => splitLine(line, fail);

test('splits at whitespace; blank and comment lines are empty', () => {
  assert.deepEqual(split('dev tun'), ['dev', 'tun']);
  assert.deepEqual(split('  ifconfig\t10.0.0.1   10.0.0.2\r'), ['ifconfig', '10.0.0.1', '10.0.0.2']);
  assert.deepEqual(split(''), []);
  assert.deepEqual(split('   \t'), []);
  assert.deepEqual(split('# a comment'), []);
  assert.deepEqual(split('  ; another'), []);
});

test('# or ; where an argument starts ends the line; inside an argument it is a character', () => {
  assert.deepEqual(split('comp-lzo # compress'), ['comp-lzo']);
  assert.deepEqual(split('cipher AES-256-GCM;x'), ['cipher', 'AES-256-GCM;x']);
  assert.deepEqual(split('secret a#b'), ['secret', 'a#b']);
  assert.deepEqual(split('secret "a # b"'), ['secret', 'a # b']);
});

test('double quotes group and take \\" \\\\ escapes; single quotes are literal', () => {
  assert.deepEqual(split('push "route 10.1.0.0 255.255.0.0"'), ['push', 'route 10.1.0.0 255.255.0.0']);
  assert.deepEqual(split('secret "my \\"key\\" \\\\ file"'), ['secret', 'my "key" \\ file']);
  assert.deepEqual(split("secret 'C:\\keys\\static.key'"), ['secret', 'C:\\keys\\static.key']);
  assert.deepEqual(split('secret my\\ key'), ['secret', 'my key']);
  assert.deepEqual(split('secret ""'), ['secret', '']);
  // As in OpenVPN, a closing quote ends the argument even without a space after it.
  assert.deepEqual(split('a "b"c'), ['a', 'b', 'c']);
});

test('errors: unclosed quotes, a bad backslash, a trailing backslash, too many or too long arguments', () => {
  assert.throws(() => split('push "route 10.1.0.0'), /no closing quotation mark/);
  assert.throws(() => split("secret 'a"), /no closing single quotation mark/);
  assert.throws(() => split('secret C:\\keys'), /a backslash before "k"/);
  assert.throws(() => split('secret a\\'), /ends in a backslash/);
  assert.throws(() => split(`x ${'a '.repeat(MAX_ARGS)}`), /more than 16 arguments/);
  assert.doesNotThrow(() => split(`x ${'a '.repeat(MAX_ARGS - 1)}`));
  assert.throws(() => split(`secret ${'k'.repeat(MAX_ARG_CHARS + 1)}`), /longer than 256/);
  assert.doesNotThrow(() => split(`secret ${'k'.repeat(MAX_ARG_CHARS)}`));
});

test('a NUL ends the line, as it ends a C string', () => {
  assert.deepEqual(split('dev tun\0 ignored'), ['dev', 'tun']);
});
