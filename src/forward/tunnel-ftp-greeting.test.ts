// An FTP client that speaks before a slow server has greeted still gets its
// data connection: the relay holds its commands until the 220, so the
// gateway sees the server speak first (PROTOCOL §5.5).
//
//   raw client ──"PASV" at once──► -L (ftp) ══ CONNECT control ══► gateway ──► slow FTP server (220 after 300 ms)
//        └──data──► one-shot listener ══ CONNECT data ══► gateway ──► the 227's port ("hello")
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { parseForwardSpec } from './spec.js';
import { ALLOW_ALICE_LOOPBACK, profiles, startForwarder, startGateway, tcpServer, until, type TestForwarder, type TestGateway } from './testing.js';

const GREETING_DELAY_MS = 300;
const cleanups: (() => Promise<void> | void)[] = [];
let tf: TestForwarder;
let tg: TestGateway;

/** A minimal FTP server: greets late, answers PASV with a data port that says "hello". */
async function slowFtpServer(): Promise<Awaited<ReturnType<typeof tcpServer>>> {
  const dataServer = await tcpServer((s) => s.end('hello\r\n'));
  cleanups.push(() => dataServer.close());
  const p = dataServer.port;
  return tcpServer((s) => {
    const timer = setTimeout(() => s.write('220 slow but ready\r\n'), GREETING_DELAY_MS);
    s.on('close', () => clearTimeout(timer));
    let rest = '';
    s.setEncoding('latin1');
    s.on('data', (chunk: string) => {
      rest += chunk;
      for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
        const cmd = rest.slice(0, nl).trim().toUpperCase();
        rest = rest.slice(nl + 1);
        s.write(cmd === 'PASV' ? `227 Entering Passive Mode (127,0,0,1,${p >> 8},${p & 255})\r\n` : '502 not here\r\n');
      }
    });
  });
}

before(async () => {
  const pki: TestPki = await makeTestPki();
  cleanups.push(() => pki.cleanup());
  const dirs = profiles(pki, ['srv', 'alice']);
  cleanups.push(() => dirs.cleanup());
  const ftpd = await slowFtpServer();
  cleanups.push(() => ftpd.close());
  tg = await startGateway(dirs.dir, dirs.profile('srv'), ALLOW_ALICE_LOOPBACK);
  cleanups.push(() => tg.close());
  tf = await startForwarder(tg.port, dirs.profile('alice'), [{ ...parseForwardSpec('L', `0:127.0.0.1:${ftpd.port}`), ftp: true }]);
  cleanups.push(() => tf.close());
});

after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

/** Everything `s` sends until it ends, within 10 s. */
function readToEnd(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no end within 10 s; got ${JSON.stringify(got)}`))), 10_000);
    s.setEncoding('latin1');
    s.on('data', (d: string) => (got += d));
    s.once('error', (err) => (clearTimeout(timer), reject(err)));
    s.once('close', () => (clearTimeout(timer), resolve(got)));
  });
}

test('PASV sent before a slow 220 still opens its data connection through the gateway', async (t) => {
  const control = connect({ host: '127.0.0.1', port: tf.ports[0]! });
  t.after(() => control.destroy());
  control.on('error', () => undefined);
  control.write('PASV\r\n'); // at once: before the server has greeted
  let text = '';
  control.setEncoding('latin1');
  control.on('data', (d: string) => (text += d));
  await until(() => /\r\n227 [^\r]*\r\n/.test(text), 'the rewritten 227');
  assert.match(text, /^220 slow but ready\r\n/);
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(text)!.slice(1).map(Number);
  const data = connect({ host: m.slice(0, 4).join('.'), port: m[4]! * 256 + m[5]! });
  t.after(() => data.destroy());
  assert.equal(await readToEnd(data), 'hello\r\n');
  assert.deepEqual(tg.logs.filter((l) => l['msg'] === 'denied'), []);
});
