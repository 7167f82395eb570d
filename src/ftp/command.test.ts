import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FtpProtocolError } from './errors.js';
import { parseCommand, parseEprtArg, parsePortArg, stripTelnet } from './command.js';

const b = (s: string) => Buffer.from(s, 'latin1');

test('verbs are case-insensitive; leading blanks and control bytes are skipped', () => {
  assert.deepEqual(parseCommand(b('port 1,2,3,4,5,6')), { verb: 'PORT', telnetVerb: 'PORT', arg: '1,2,3,4,5,6', innerCR: false });
  assert.equal(parseCommand(b('  \t\x00EpRt |1|1.2.3.4|5|  ')).verb, 'EPRT');
  assert.equal(parseCommand(b('  \t\x00EpRt |1|1.2.3.4|5|  ')).arg, '|1|1.2.3.4|5|');
  assert.equal(parseCommand(b('PORT1,2,3,4,5,6')).verb, 'PORT');
  assert.equal(parseCommand(b('')).verb, '');
  assert.equal(parseCommand(b('NOOP\rPORT 1,2,3,4,5,6')).innerCR, true);
});

test('Telnet IAC sequences: the Telnet reading is returned beside the naive one', () => {
  // IAC IP IAC DM before ABOR (RFC 959 abort), both readings agree.
  const abor = parseCommand(b('\xff\xf4\xff\xf2ABOR'));
  assert.equal(abor.verb, 'ABOR');
  assert.equal(abor.telnetVerb, 'ABOR');
  // IAC WILL 'P': a Telnet server reads ORT, a naive one PORT.
  const sneaky = parseCommand(b('\xff\xfbPORT 1,2,3,4,5,6'));
  assert.equal(sneaky.verb, 'PORT');
  assert.equal(sneaky.telnetVerb, 'ORT');
  assert.deepEqual([...stripTelnet(b('a\xff\xffb\xff\xfa\x18xyz\xff\xf0c'))], [...b('a\xffbc')]);
});

test('PORT argument', () => {
  assert.deepEqual(parsePortArg('127,0,0,1,4,1'), { host: '127.0.0.1', port: 1025 });
  for (const bad of ['127,0,0,1,4', '127,0,0,1,4,1,1', '256,0,0,1,4,1', '127,0,0,1,0,0', 'a,b,c,d,e,f', '127, 0,0,1,4,1', '']) {
    assert.throws(() => parsePortArg(bad), (e: unknown) => e instanceof FtpProtocolError && e.code === 'INSEL_FTP_BAD_ARGUMENT', bad);
  }
});

test('EPRT argument', () => {
  assert.deepEqual(parseEprtArg('|1|132.235.1.2|6275|'), { host: '132.235.1.2', port: 6275 });
  assert.deepEqual(parseEprtArg('|2|1080::8:800:200C:417A|5282|'), { host: '1080::8:800:200C:417A', port: 5282 });
  assert.deepEqual(parseEprtArg('!1!10.0.0.1!21!'), { host: '10.0.0.1', port: 21 });
  assert.throws(() => parseEprtArg('|3|x|1|'), (e: unknown) => e instanceof FtpProtocolError && e.code === 'INSEL_FTP_BAD_PROTOCOL');
  for (const bad of ['|1|::1|5|', '|2|1.2.3.4|5|', '|1|1.2.3.4|0|', '|1|1.2.3.4|65536|', '|1|1.2.3.4|5', '|1|1.2.3.4|5||', ' 1 1.2.3.4 5 ', '']) {
    assert.throws(() => parseEprtArg(bad), (e: unknown) => e instanceof FtpProtocolError && e.code === 'INSEL_FTP_BAD_ARGUMENT', bad);
  }
});
