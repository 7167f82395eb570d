import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FtpProtocolError } from './errors.js';
import { LineReader, eolOf, stripEol } from './line-reader.js';

const all = (r: LineReader): string[] => {
  const out: string[] = [];
  for (let l = r.next(); l !== undefined; l = r.next()) out.push(l.toString('latin1'));
  return out;
};

test('CRLF and bare LF lines keep their terminators; a partial line waits', () => {
  const r = new LineReader(100);
  r.push(Buffer.from('USER a\r\nPASS b\nNO'));
  assert.deepEqual(all(r), ['USER a\r\n', 'PASS b\n']);
  assert.equal(r.pending, 2);
  r.push(Buffer.from('OP\r'));
  assert.deepEqual(all(r), []);
  r.push(Buffer.from('\n'));
  assert.deepEqual(all(r), ['NOOP\r\n']);
  assert.equal(r.pending, 0);
});

test('one byte at a time gives the same lines', () => {
  const text = '220-a\r\n220 b\r\n\r\n\nx\r\n';
  const r = new LineReader(100);
  const got: string[] = [];
  for (const b of Buffer.from(text)) {
    r.push(Buffer.from([b]));
    got.push(...all(r));
  }
  assert.deepEqual(got, ['220-a\r\n', '220 b\r\n', '\r\n', '\n', 'x\r\n']);
});

test('the limit counts the terminator and fires before the line ends', () => {
  const ok = new LineReader(8);
  ok.push(Buffer.from('123456\r\n'));
  assert.deepEqual(all(ok), ['123456\r\n']);
  const over = new LineReader(8);
  over.push(Buffer.from('1234567\r\n'));
  assert.throws(() => over.next(), (e: unknown) => e instanceof FtpProtocolError && e.code === 'INSEL_FTP_LINE_TOO_LONG');
  const early = new LineReader(8);
  early.push(Buffer.from('1234567'));
  assert.equal(early.next(), undefined);
  early.push(Buffer.from('8'));
  assert.throws(() => early.next(), FtpProtocolError);
});

test('stripEol removes LF and one CR', () => {
  assert.equal(stripEol(Buffer.from('a\r\n')).toString(), 'a');
  assert.equal(stripEol(Buffer.from('a\r\r\n')).toString(), 'a\r');
  assert.equal(stripEol(Buffer.from('a\n')).toString(), 'a');
  assert.equal(eolOf(Buffer.from('a\n')).toString(), '\n');
  assert.equal(eolOf(Buffer.from('a')).toString(), '');
});
