import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FtpRefusal } from './errors.js';
import { activeCommandLine, passiveReplyLine, planCommand, refusalReply } from './rewrite.js';

const plan = (line: string, client = '127.0.0.1') => planCommand(Buffer.from(line, 'latin1'), client);
const refused = (line: string, client = '127.0.0.1') => {
  const p = plan(line, client);
  assert.equal(p.kind, 'refuse', line);
  return p.kind === 'refuse' ? { code: p.refusal.code, reply: refusalReply(p.refusal).toString() } : undefined;
};

test('ordinary commands are forwarded', () => {
  for (const l of ['USER anonymous', 'RETR port.txt', 'PASV', 'EPSV', 'EPSV ALL', 'PBSZ 0', 'PORTS', 'garbage \xff\xfe', '']) assert.deepEqual(plan(l), { kind: 'forward' }, l);
});

test('PORT/EPRT from the client itself go to the hook; ::ffff: is normalised', () => {
  assert.deepEqual(plan('PORT 127,0,0,1,4,1'), { kind: 'active', verb: 'PORT', host: '127.0.0.1', port: 1025 });
  assert.deepEqual(plan('eprt |1|127.0.0.1|1025|', '::ffff:127.0.0.1'), { kind: 'active', verb: 'EPRT', host: '127.0.0.1', port: 1025 });
  assert.deepEqual(plan('EPRT |2|::1|1025|', '::1'), { kind: 'active', verb: 'EPRT', host: '::1', port: 1025 });
});

test('bounce, malformed, unsupported and security commands are refused with a reason', () => {
  const bounce = refused('PORT 10,0,0,9,0,25');
  assert.equal(bounce?.code, 'INSEL_FTP_BOUNCE');
  assert.match(bounce!.reply, /^501 PORT must name your own address 127\.0\.0\.1, not 10\.0\.0\.9: .*bounce\r\n$/);
  assert.equal(refused('EPRT |1|10.0.0.9|25|')?.code, 'INSEL_FTP_BOUNCE');
  assert.match(refused('PORT 1,2,3')!.reply, /^501 Malformed PORT argument/);
  assert.match(refused('EPRT |9|x|1|')!.reply, /^522 /);
  assert.match(refused('LPRT 4,4,127,0,0,1,2,4,1')!.reply, /^502 LPRT is not supported through the insel FTP relay; use EPSV\/PASV or EPRT\/PORT\r\n$/);
  assert.match(refused('lpsv')!.reply, /^502 LPSV/);
  assert.match(refused('AUTH TLS')!.reply, /^534 AUTH refused: the insel tunnel already encrypts/);
  assert.match(refused('auth ssl')!.reply, /^534 /);
  assert.match(refused('CCC')!.reply, /^534 /);
  assert.match(refused('ENC abcd')!.reply, /^534 /);
  assert.equal(refused('NOOP\rPORT 10,0,0,9,0,25')?.code, 'INSEL_FTP_BAD_ARGUMENT');
  assert.equal(refused('\xff\xfbPORT 127,0,0,1,4,1')?.code, 'INSEL_FTP_AMBIGUOUS');
});

test('rewritten active commands: PORT for IPv4, EPRT |2| for IPv6, nothing for names', () => {
  assert.equal(activeCommandLine({ host: '10.9.8.7', port: 40123 })?.toString(), 'PORT 10,9,8,7,156,187\r\n');
  assert.equal(activeCommandLine({ host: '::ffff:10.9.8.7', port: 1 })?.toString(), 'PORT 10,9,8,7,0,1\r\n');
  assert.equal(activeCommandLine({ host: '2001:db8::2', port: 2121 })?.toString(), 'EPRT |2|2001:db8::2|2121|\r\n');
  assert.equal(activeCommandLine({ host: 'gw.example', port: 2121 }), undefined);
  assert.equal(activeCommandLine({ host: '10.0.0.1', port: 0 }), undefined);
});

test('rewritten passive replies; 227 needs IPv4, else the client is told to use EPSV', () => {
  assert.equal(passiveReplyLine(227, { host: '127.0.0.1', port: 40123 }).toString(), '227 Entering Passive Mode (127,0,0,1,156,187).\r\n');
  assert.equal(passiveReplyLine(229, { host: '::1', port: 40123 }).toString(), '229 Entering Extended Passive Mode (|||40123|)\r\n');
  const v6 = passiveReplyLine(227, { host: '::1', port: 40123 });
  assert.ok(v6 instanceof FtpRefusal && v6.replyCode === 425 && /use EPSV/.test(v6.message));
  assert.ok(passiveReplyLine(229, { host: '::1', port: 70000 }) instanceof FtpRefusal);
});

test('refusal replies are one line even if a hook error had newlines', () => {
  const r = new FtpRefusal('INSEL_FTP_HOOK_FAILED', 425, 'a\r\n227 (1,2,3,4,5,6)\r\nb');
  assert.equal(refusalReply(r).toString(), '425 a 227 (1,2,3,4,5,6) b\r\n');
});
