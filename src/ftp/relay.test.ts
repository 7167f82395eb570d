// The relay between an in-memory client and server with fake hooks: what
// each side receives, byte for byte, and what the hooks were asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import type { HostPort } from './command.js';
import { relayFtpControl, type FtpDataHooks, type FtpRelayEvent, type FtpRelayOptions, type FtpRelayResult } from './relay.js';
import { duplexPair } from './testing.js';

interface Harness {
  client: Duplex;
  server: Duplex;
  /** bytes the client / server received so far */
  atClient(): string;
  atServer(): string;
  waitClient(re: RegExp, ms?: number): Promise<void>;
  waitServer(re: RegExp, ms?: number): Promise<void>;
  calls: string[];
  events: { event: FtpRelayEvent; detail: Record<string, unknown> }[];
  done: Promise<FtpRelayResult>;
  /** ends both sides and waits for the relay's result */
  finish(ms?: number): Promise<FtpRelayResult>;
}

const fakeHooks = (calls: string[]): FtpDataHooks => ({
  async passive(port) {
    calls.push(`passive ${port}`);
    return { host: '127.0.0.1', port: 40000 };
  },
  async active(host, port) {
    calls.push(`active ${host} ${port}`);
    return { host: '192.0.2.7', port: 50000 };
  },
});

function collect(s: Duplex): { text: () => string; wait: (re: RegExp, ms?: number) => Promise<void> } {
  let text = '';
  const waiters = new Set<() => void>();
  s.on('data', (b: Buffer) => {
    text += b.toString('latin1');
    for (const w of waiters) w();
  });
  const wait = (re: RegExp, ms = 5000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!re.test(text)) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${re} in ${JSON.stringify(text)}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { text: () => text, wait };
}

function harness(opts: Partial<FtpRelayOptions> = {}): Harness {
  const [client, clientEnd] = duplexPair();
  const [serverEnd, server] = duplexPair();
  const calls: string[] = [];
  const events: Harness['events'] = [];
  const done = relayFtpControl(clientEnd, serverEnd, {
    hooks: fakeHooks(calls),
    clientAddress: '127.0.0.1',
    log: (event, detail) => events.push({ event, detail }),
    ...opts,
  });
  const c = collect(client);
  const s = collect(server);
  return {
    client,
    server,
    atClient: c.text,
    atServer: s.text,
    waitClient: c.wait,
    waitServer: s.wait,
    calls,
    events,
    done,
    async finish(ms = 5000) {
      client.end();
      server.end();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('relay did not finish')), ms)));
      try {
        return await Promise.race([done, deadline]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The greeting, so later replies are not held behind it. */
async function greet(h: Harness): Promise<void> {
  h.server.write('220 ready\r\n');
  await h.waitClient(/220 ready\r\n$/);
}

test('ordinary dialogue passes byte-exact in both directions, split anywhere', async () => {
  const h = harness();
  const replies = '220-Welcome\r\n220 ready\r\n331 pw\n230 in\r\n211-Features:\r\n EPSV\r\n MDTM\r\n211 End\r\n';
  for (const ch of replies) h.server.write(ch);
  for (const part of ['US', 'ER anonymous\r', '\nPASS x\nFEAT\r\n']) h.client.write(part);
  await h.waitServer(/FEAT\r\n$/);
  await h.waitClient(/211 End\r\n$/);
  assert.equal(h.atServer(), 'USER anonymous\r\nPASS x\nFEAT\r\n');
  assert.equal(h.atClient(), replies);
  const r = await h.finish();
  assert.deepEqual(r, { commands: 3, replies: 4, passive: 0, active: 0, refused: 0, end: 'eof' });
});

test('PASV: the 227 address is ignored, its port goes to the hook, the client gets the hook address', async () => {
  const h = harness();
  await greet(h);
  h.client.write('PASV\r\n');
  await h.waitServer(/PASV\r\n$/);
  h.server.write('227 Entering Passive Mode (10,0,0,5,200,10).\r\n');
  await h.waitClient(/227 .*\r\n$/);
  assert.deepEqual(h.calls, ['passive 51210']);
  assert.match(h.atClient(), /\r\n227 Entering Passive Mode \(127,0,0,1,156,64\)\.\r\n$/);
  // Without parens (RFC 1123) and multi-line.
  h.server.write('227-Entering Passive Mode\r\n =10,0,0,5,0,21\r\n227 ok\r\n');
  await h.waitClient(/\(127,0,0,1,156,64\)\.\r\n227 Entering Passive Mode \(127,0,0,1,156,64\)\.\r\n$/);
  assert.deepEqual(h.calls, ['passive 51210', 'passive 21']);
  const r = await h.finish();
  assert.equal(r.passive, 2);
});

test('EPSV: the 229 port is rewritten', async () => {
  const h = harness();
  await greet(h);
  h.client.write('epsv\r\n');
  h.server.write('229 Entering Extended Passive Mode (|||6446|)\r\n');
  await h.waitClient(/229 .*\r\n$/);
  assert.deepEqual(h.calls, ['passive 6446']);
  assert.match(h.atClient(), /229 Entering Extended Passive Mode \(\|\|\|40000\|\)\r\n$/);
  assert.equal((await h.finish()).passive, 1);
});

test('a 227 whose hook gives a non-IPv4 address becomes a 425 telling the client to use EPSV', async () => {
  const h = harness({ hooks: { passive: async () => ({ host: '::1', port: 40000 }), active: async () => ({ host: '::1', port: 1 }) } });
  await greet(h);
  h.server.write('227 (10,0,0,5,200,10)\r\n');
  await h.waitClient(/425 .*use EPSV\r\n$/);
  assert.equal((await h.finish()).refused, 1);
});

test('unparseable or unsupported passive replies, and failing hooks, become 425', async () => {
  const h = harness({ hooks: { passive: async () => Promise.reject(new Error('tunnel down')), active: async () => ({ host: '::1', port: 1 }) } });
  await greet(h);
  h.server.write('227 Entering Passive Mode\r\n');
  await h.waitClient(/425 .*could not parse.*\r\n$/);
  h.server.write('229 (|||0|)\r\n');
  await h.waitClient(/425 .*could not parse.*229.*\r\n$/);
  h.server.write('228 Entering Long Passive Mode (4,4,1,2,3,4,2,1,2)\r\n');
  await h.waitClient(/425 .*228.*\r\n$/);
  h.server.write('229 (|||6446|)\r\n');
  await h.waitClient(/425 Can't open data connection through the insel tunnel: tunnel down\r\n$/);
  assert.doesNotMatch(h.atClient(), /^22[789]/m);
  const r = await h.finish();
  assert.equal(r.refused, 4);
});

test('a hook that never answers times out into a 425', async () => {
  const h = harness({ hookTimeoutMs: 50, hooks: { passive: () => new Promise(() => {}), active: () => new Promise(() => {}) } });
  await greet(h);
  h.server.write('229 (|||6446|)\r\n');
  await h.waitClient(/425 .*no answer within 50 ms\r\n$/);
  h.client.write('PORT 127,0,0,1,4,1\r\n');
  await h.waitClient(/425 .*no answer within 50 ms\r\n.*425 .*\r\n$/s);
  assert.equal(h.atServer(), '');
  await h.finish();
});

test('while a passive hook is pending, later server bytes wait', async () => {
  let release!: (v: HostPort) => void;
  const h = harness({ hooks: { passive: () => new Promise((r) => (release = r)), active: async () => ({ host: '::1', port: 1 }) } });
  await greet(h);
  h.server.write('227 (10,0,0,5,200,10)\r\n150 next\r\n');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.atClient(), '220 ready\r\n');
  release({ host: '127.0.0.1', port: 1025 });
  await h.waitClient(/150 next\r\n$/);
  assert.equal(h.atClient(), '220 ready\r\n227 Entering Passive Mode (127,0,0,1,4,1).\r\n150 next\r\n');
  await h.finish();
});

test('PORT and EPRT from the client are rewritten to the hook address, later commands wait', async () => {
  let release!: (v: HostPort) => void;
  const h = harness({
    clientAddress: '::ffff:127.0.0.1',
    hooks: {
      passive: async () => ({ host: '::1', port: 1 }),
      active: () => new Promise((r) => (release = r)),
    },
  });
  await greet(h);
  h.client.write('PORT 127,0,0,1,4,1\r\nRETR a\r\n');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.atServer(), '');
  release({ host: '192.0.2.7', port: 50000 });
  await h.waitServer(/RETR a\r\n$/);
  assert.equal(h.atServer(), 'PORT 192,0,2,7,195,80\r\nRETR a\r\n');
  h.client.write('eprt |1|127.0.0.1|1025|\r\n');
  await new Promise((r) => setTimeout(r, 10));
  release({ host: '2001:db8::7', port: 50001 });
  await h.waitServer(/EPRT \|2\|2001:db8::7\|50001\|\r\n$/);
  const r = await h.finish();
  assert.equal(r.active, 2);
});

test('FTP bounce: PORT/EPRT naming another host is refused and never forwarded', async () => {
  const h = harness();
  await greet(h);
  h.client.write('PORT 10,0,0,9,0,25\r\n');
  await h.waitClient(/501 .*bounce\r\n$/);
  h.client.write('EPRT |1|10.0.0.9|25|\r\nEPRT |2|::1|25|\r\n');
  await h.waitClient(/501 .*bounce\r\n501 .*bounce\r\n$/);
  h.client.write('PORT 127,0,0,1,4\r\n');
  await h.waitClient(/501 Malformed PORT argument.*\r\n$/);
  assert.equal(h.atServer(), '');
  assert.deepEqual(h.calls, []);
  assert.deepEqual(
    h.events.filter((e) => e.event === 'refused').map((e) => e.detail['code']),
    ['INSEL_FTP_BOUNCE', 'INSEL_FTP_BOUNCE', 'INSEL_FTP_BOUNCE', 'INSEL_FTP_BAD_ARGUMENT'],
  );
  const r = await h.finish();
  assert.deepEqual(r, { commands: 4, replies: 1, passive: 0, active: 0, refused: 4, end: 'eof' });
});

test('a failing active hook: 425 to the client, the PORT is not sent', async () => {
  const h = harness({ hooks: { passive: async () => ({ host: '::1', port: 1 }), active: async () => Promise.reject(new Error('gateway refused')) } });
  await greet(h);
  h.client.write('PORT 127,0,0,1,4,1\r\n');
  await h.waitClient(/425 Can't open data connection through the insel tunnel: gateway refused\r\n$/);
  assert.equal(h.atServer(), '');
  await h.finish();
});

test('LPRT, LPSV, AUTH TLS, CCC are answered by the relay and not passed', async () => {
  const h = harness();
  await greet(h);
  h.client.write('LPRT 4,4,127,0,0,1,2,4,1\r\nlpsv\r\nAUTH TLS\r\nauth ssl\r\nCCC\r\n');
  await h.waitClient(/(\r\n534 [^\r]*){3}\r\n$/);
  assert.match(h.atClient(), /^220 ready\r\n502 LPRT is not supported through the insel FTP relay; use EPSV\/PASV or EPRT\/PORT\r\n502 LPSV .*\r\n534 AUTH refused: the insel tunnel already encrypts this connection.*\r\n/);
  assert.equal(h.atServer(), '');
  assert.equal((await h.finish()).refused, 5);
});

test("the relay's own replies stay in order behind the server's", async () => {
  const h = harness();
  // Before the greeting, and pipelined behind a forwarded command.
  h.client.write('AUTH TLS\r\nNOOP\r\nLPSV\r\n');
  h.server.write('220 ready\r\n');
  await h.waitServer(/NOOP\r\n$/);
  await h.waitClient(/534 .*\r\n$/);
  assert.doesNotMatch(h.atClient(), /502/);
  h.server.write('200 noop\r\n');
  await h.waitClient(/502 .*\r\n$/);
  assert.match(h.atClient(), /^220 ready\r\n534 [^\r]*\r\n200 noop\r\n502 [^\r]*\r\n$/);
  await h.finish();
});

test("commands wait for the server's greeting: the gateway trusts only a server that spoke first", async () => {
  const h = harness();
  h.client.write('USER anonymous\r\nPASS x\r\n');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.atServer(), '', 'nothing before the greeting');
  h.server.write('220 ready\r\n');
  await h.waitServer(/PASS x\r\n$/);
  assert.equal(h.atServer(), 'USER anonymous\r\nPASS x\r\n');
  await h.finish();
});

test('a server that never greets holds commands for one hook timeout only', async () => {
  const h = harness({ hookTimeoutMs: 100 });
  h.client.write('USER anonymous\r\nNOOP\r\n');
  await h.waitServer(/NOOP\r\n$/);
  await h.finish();
});

test('garbage passes through byte-exact', async () => {
  const h = harness();
  await greet(h);
  const junk = Buffer.from([0x00, 0x01, 0xfe, 0x80, 0x20, 0x50, 0x4f, 0x52, 0x54, 0x53, 0x0d, 0x0a, 0x7f, 0x0a]);
  h.client.write(junk);
  await h.waitServer(/\x7f\n$/);
  assert.deepEqual(Buffer.from(h.atServer(), 'latin1'), junk);
  h.server.write(Buffer.from('not a reply \xff\r\n', 'latin1'));
  await h.waitClient(/not a reply \xff\r\n$/);
  await h.finish();
});

test('an over-long command line ends the session with 500; nothing of it reaches the server', async () => {
  const h = harness({ maxLineBytes: 64 });
  await greet(h);
  h.client.write('NOOP\r\n');
  h.client.write(`PORT 10,0,0,9,0,25${'x'.repeat(100)}`);
  await h.waitClient(/500 Command line too long \(over 64 bytes\).*\r\n$/);
  const r = await h.finish();
  assert.equal(h.atServer(), 'NOOP\r\n');
  assert.equal(r.end, 'INSEL_FTP_LINE_TOO_LONG');
  assert.ok(h.events.some((e) => e.event === 'violation' && e.detail['code'] === 'INSEL_FTP_LINE_TOO_LONG'));
});

test('an over-long reply line ends the session with 421', async () => {
  const h = harness({ maxLineBytes: 64 });
  await greet(h);
  h.server.write(`200 ${'x'.repeat(100)}`);
  await h.waitClient(/421 Server reply line too long.*\r\n$/);
  assert.equal((await h.finish()).end, 'INSEL_FTP_LINE_TOO_LONG');
});

test('a partial last line is dropped, not forwarded', async () => {
  const h = harness();
  await greet(h);
  h.client.write('NOOP\r\nPORT 10,0,0,9,0,25');
  await h.waitServer(/NOOP\r\n$/);
  await h.finish();
  assert.equal(h.atServer(), 'NOOP\r\n');
  assert.ok(h.events.some((e) => e.event === 'partial-line' && e.detail['side'] === 'client'));
});

test('the server closing ends the client; held replies are released first', async () => {
  const h = harness();
  h.client.write('AUTH TLS\r\n');
  await new Promise((r) => setTimeout(r, 10));
  h.server.end('421 bye\r\n');
  await h.waitClient(/421 bye\r\n534 .*\r\n$/);
  await new Promise<void>((resolve) => h.client.once('end', resolve).resume());
  await h.finish();
});

test('backpressure: a client that does not read stops the relay reading the server', async () => {
  const [client, clientEnd] = duplexPair();
  const [serverEnd, server] = duplexPair();
  const done = relayFtpControl(clientEnd, serverEnd, { hooks: fakeHooks([]), clientAddress: '127.0.0.1' });
  const line = Buffer.from(`200 ${'x'.repeat(1000)}\r\n`);
  for (let i = 0; i < 1000; i++) server.write(line);
  await new Promise((r) => setTimeout(r, 50));
  // About 1 MB offered; only a few buffers' worth (16 KiB each) may sit in the relay.
  assert.ok(server.writableLength > 900_000, `server side still holds ${server.writableLength} bytes`);
  let got = 0;
  client.on('data', (b: Buffer) => (got += b.length));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got} bytes arrived`)), 5000);
    const poll = setInterval(() => {
      if (got < 1000 * line.length) return;
      clearInterval(poll);
      clearTimeout(timer);
      resolve();
    }, 5);
  });
  client.end();
  server.end();
  assert.equal((await done).replies, 1000);
});
