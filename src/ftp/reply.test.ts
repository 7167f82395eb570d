import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FtpProtocolError } from './errors.js';
import { ReplyReader, parsePassivePort, type ReplyStep } from './reply.js';

const feed = (r: ReplyReader, ...lines: string[]): ReplyStep[] => lines.map((l) => r.feed(Buffer.from(l, 'latin1')));
const show = (s: ReplyStep) => (s.kind === 'pass' ? { ...s, bytes: s.bytes.toString('latin1') } : s);

test('single-line replies pass byte-exact and end with their code', () => {
  const r = new ReplyReader(100);
  assert.deepEqual(feed(r, '220 hi\r\n', '150 go\n', '226 done\r\n').map(show), [
    { kind: 'pass', bytes: '220 hi\r\n', ended: 220 },
    { kind: 'pass', bytes: '150 go\n', ended: 150 },
    { kind: 'pass', bytes: '226 done\r\n', ended: 226 },
  ]);
});

test('multi-line replies end on `xyz `; inner lines that look like replies get a space', () => {
  const r = new ReplyReader(100);
  assert.deepEqual(feed(r, '211-Features:\r\n', ' EPSV\r\n', '227 (1,2,3,4,5,6)\r\n', '211-still\r\n', '211 End\r\n').map(show), [
    { kind: 'pass', bytes: '211-Features:\r\n' },
    { kind: 'pass', bytes: ' EPSV\r\n' },
    { kind: 'pass', bytes: ' 227 (1,2,3,4,5,6)\r\n' },
    { kind: 'pass', bytes: ' 211-still\r\n' },
    { kind: 'pass', bytes: '211 End\r\n', ended: 211 },
  ]);
});

test('passive replies are withheld whole, also multi-line', () => {
  const r = new ReplyReader(100);
  assert.deepEqual(feed(r, '227 Entering Passive Mode (1,2,3,4,5,6)\r\n'), [{ kind: 'passive', code: 227, text: 'Entering Passive Mode (1,2,3,4,5,6)' }]);
  assert.deepEqual(feed(r, '229-Entering\r\n', ' (|||2000|)\r\n', '229 ok\r\n'), [
    { kind: 'hold' },
    { kind: 'hold' },
    { kind: 'passive', code: 229, text: 'Entering\n (|||2000|)\nok' },
  ]);
  assert.deepEqual(feed(r, '228 long\r\n'), [{ kind: 'passive', code: 228, text: 'long' }]);
  assert.deepEqual(feed(r, '227\r\n'), [{ kind: 'passive', code: 227, text: '' }]);
});

test('a withheld passive reply is bounded', () => {
  const r = new ReplyReader(20);
  feed(r, '227-x\r\n', '0123456789\r\n');
  assert.throws(() => feed(r, '0123456789\r\n'), (e: unknown) => e instanceof FtpProtocolError && e.code === 'INSEL_FTP_REPLY_TOO_LONG');
});

test('a CR inside a line becomes a space; junk passes', () => {
  const r = new ReplyReader(100);
  assert.deepEqual(feed(r, '200 ok\r227 (1,2,3,4,5,6)\r\n', 'hello\r\n').map(show), [
    { kind: 'pass', bytes: '200 ok 227 (1,2,3,4,5,6)\r\n', ended: 200 },
    { kind: 'pass', bytes: 'hello\r\n' },
  ]);
});

test('passive ports: 227 anywhere, parens optional (RFC 1123); 229 per RFC 2428', () => {
  assert.equal(parsePassivePort(227, 'Entering Passive Mode (10,0,0,5,200,10).'), 51210);
  assert.equal(parsePassivePort(227, '=10,0,0,5,0,21'), 21);
  assert.equal(parsePassivePort(227, 'Entering Passive Mode 10, 0, 0, 5, 1, 1'), 257);
  assert.equal(parsePassivePort(229, 'Entering Extended Passive Mode (|||6446|)'), 6446);
  assert.equal(parsePassivePort(229, 'x (!!!21!)'), 21);
  const bad = (code: number, text: string) => assert.throws(() => parsePassivePort(code, text), (e: unknown) => e instanceof FtpProtocolError && e.code === 'INSEL_FTP_BAD_PASSIVE_REPLY', text);
  bad(227, 'Entering Passive Mode');
  bad(227, '(10,0,0,5,300,1)');
  bad(227, '(10,0,0,5,0,0)');
  bad(229, '(|||0|)');
  bad(229, '(|||70000|)');
  bad(229, '(||6446|)');
  bad(229, '(|1|1.2.3.4|6446|)');
  bad(228, '(4,4,1,2,3,4,2,1,2)');
});
