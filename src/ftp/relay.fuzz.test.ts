// Random control dialogues through the relay, checked on the bytes that
// reach each side: no PORT/EPRT reaches the server unless it is the
// rewrite of a hook answer, no 227/228/229 reaches the client unless it is
// ours, LPRT/LPSV/AUTH... never reach the server, and the relay always
// finishes without an internal error. Safe dialogues pass byte-exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import { stripTelnet } from './command.js';
import { relayFtpControl, type FtpDataHooks, type FtpRelayResult } from './relay.js';
import { duplexPair } from './testing.js';

const RUNS = 300;
const FORBIDDEN = new Set(['LPRT', 'LPSV', 'SPSV', 'AUTH', 'ADAT', 'CCC', 'MIC', 'CONF', 'ENC']);

interface Outcome {
  result: FtpRelayResult;
  atServer: Buffer;
  atClient: Buffer;
  /** lines the hooks' answers allow on each side */
  allowedCommands: Set<string>;
  allowedReplies: Set<string>;
}

/** Hooks whose answers vary with the call number: IPv4, IPv6, failure. */
function hooks(allowedCommands: Set<string>, allowedReplies: Set<string>): FtpDataHooks {
  let n = 0;
  const later = <T>(v: () => T): Promise<T> => new Promise((resolve, reject) => setImmediate(() => {
    try {
      resolve(v());
    } catch (err) {
      reject(err);
    }
  }));
  return {
    passive: () =>
      later(() => {
        const i = n++;
        if (i % 5 === 4) throw new Error('tunnel refused');
        const port = 40000 + i;
        const host = i % 5 === 3 ? '::1' : '127.0.0.1';
        allowedReplies.add(`229 Entering Extended Passive Mode (|||${port}|)`);
        if (host === '127.0.0.1') allowedReplies.add(`227 Entering Passive Mode (127,0,0,1,${port >> 8},${port & 0xff}).`);
        return { host, port };
      }),
    active: () =>
      later(() => {
        const i = n++;
        if (i % 4 === 3) throw new Error('gateway refused');
        const port = 50000 + i;
        if (i % 4 === 2) {
          allowedCommands.add(`EPRT |2|2001:db8::7|${port}|`);
          return { host: '2001:db8::7', port };
        }
        allowedCommands.add(`PORT 192,0,2,7,${port >> 8},${port & 0xff}`);
        return { host: '192.0.2.7', port };
      }),
  };
}

function drainAll(s: Duplex): () => Buffer {
  const got: Buffer[] = [];
  s.on('data', (b: Buffer) => got.push(b));
  return () => Buffer.concat(got);
}

async function run(clientChunks: Buffer[], serverChunks: Buffer[], clientAddress: string, maxLineBytes: number): Promise<Outcome> {
  const [client, clientEnd] = duplexPair();
  const [serverEnd, server] = duplexPair();
  const allowedCommands = new Set<string>();
  const allowedReplies = new Set<string>();
  const atClient = drainAll(client);
  const atServer = drainAll(server);
  const done = relayFtpControl(clientEnd, serverEnd, { hooks: hooks(allowedCommands, allowedReplies), clientAddress, maxLineBytes });
  // Interleave the two directions chunk by chunk.
  for (let i = 0; i < Math.max(clientChunks.length, serverChunks.length); i++) {
    if (i < clientChunks.length) client.write(clientChunks[i]);
    if (i < serverChunks.length) server.write(serverChunks[i]);
    if (i % 3 === 0) await new Promise((r) => setImmediate(r));
  }
  client.end();
  server.end();
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    done,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('relay did not finish within 5 s')), 5000))),
  ]).finally(() => clearTimeout(timer));
  return { result, atServer: atServer(), atClient: atClient(), allowedCommands, allowedReplies };
}

/** Lines as any lenient peer might split them: at CRLF, LF or a lone CR. */
const segments = (b: Buffer) => b.toString('latin1').split(/\r\n|\n|\r/);
/** The verb as a lenient server reads it: leading blanks and control bytes skipped. */
const verbOf = (s: string) => /^[\x00-\x20\x7f-\xff]*([A-Za-z]*)/.exec(s)![1]!.toUpperCase();

function check(o: Outcome): void {
  assert.notEqual(o.result.end, 'INSEL_FTP_INTERNAL');
  assert.notEqual(o.result.end, 'error');
  for (const seg of segments(o.atServer)) {
    for (const verb of new Set([verbOf(seg), verbOf(stripTelnet(Buffer.from(seg, 'latin1')).toString('latin1'))])) {
      assert.ok(!FORBIDDEN.has(verb), `forwarded ${JSON.stringify(seg)}`);
      if (verb === 'PORT' || verb === 'EPRT') assert.ok(o.allowedCommands.has(seg), `unrewritten ${JSON.stringify(seg)}`);
    }
  }
  for (const seg of segments(o.atClient)) {
    if (/^22[789]/.test(seg)) assert.ok(o.allowedReplies.has(seg), `unrewritten reply ${JSON.stringify(seg)}`);
  }
}

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const eol = fc.constantFrom('\r\n', '\n', '\r', '', '\r\r\n', '\r\n');
const junk = fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('latin1'));
const commandLine = fc
  .tuple(
    fc.constantFrom('', ' ', '\t', '\x00', '\xff\xfb', '\xff\xf4\xff\xf2', '\x7f'),
    fc.constantFrom('PORT', 'port', 'EPRT', 'eprt', 'LPRT', 'LPSV', 'SPSV', 'AUTH', 'auth', 'CCC', 'ENC', 'RETR', 'NOOP', 'PASV', 'EPSV', 'PORTS', ''),
    fc.constantFrom(' ', '', '  ', '\t'),
    fc.oneof(
      fc.constantFrom('127,0,0,1,4,1', '10,0,0,9,0,25', '|1|127.0.0.1|1025|', '|2|::1|25|', '|1|10.0.0.9|25|', '|2|::ffff:127.0.0.1|99|', 'TLS', '127,0,0,1,0,0', ''),
      junk,
    ),
    eol,
  )
  .map((p) => p.join(''));
const replyLine = fc
  .tuple(
    fc.constantFrom('220', '227', '228', '229', '200', '150', '211', '425', '22', '2270'),
    fc.constantFrom(' ', '-', '', 'x'),
    fc.oneof(fc.constantFrom('Entering Passive Mode (10,0,0,5,200,10).', ' (|||6446|)', '=1,2,3,4,5,6', '227 (1,2,3,4,5,6)', 'ok', ''), junk),
    eol,
  )
  .map((p) => p.join(''));
const stream = (line: fc.Arbitrary<string>) => fc.array(fc.oneof({ weight: 5, arbitrary: line }, { weight: 1, arbitrary: junk }), { maxLength: 14 }).map((a) => latin1(a.join('')));
const cuts = fc.array(fc.nat(), { maxLength: 10 });

test('fuzz: random dialogues never carry an unrewritten data address or a security command', async () => {
  await fc.assert(
    fc.asyncProperty(stream(commandLine), cuts, stream(replyLine), cuts, fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1'), fc.integer({ min: 8, max: 120 }), async (c, cc, s, sc, addr, max) => {
      check(await run(split(c, cc), split(s, sc), addr, max));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: random bytes in random chunks', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), cuts, fc.uint8Array({ maxLength: 300 }), cuts, async (c, cc, s, sc) => {
      check(await run(split(Buffer.from(c), cc), split(Buffer.from(s), sc), '127.0.0.1', 64));
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: safe dialogues pass byte-exact both ways', async () => {
  const safeCommand = fc
    .tuple(fc.constantFrom('USER', 'PASS', 'RETR', 'STOR', 'LIST', 'noop', 'PASV', 'EPSV', 'TYPE', 'PORTS'), fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, '')), fc.constantFrom('\r\n', '\n'))
    .map(([v, a, e]) => `${v} ${a}${e}`);
  const safeReply = fc
    .tuple(fc.constantFrom('220', '230', '150', '226', '550', '200'), fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, '')), fc.constantFrom('\r\n', '\n'))
    .map(([c, t, e]) => `${c} ${t}${e}`);
  await fc.assert(
    fc.asyncProperty(fc.array(safeCommand, { maxLength: 10 }), cuts, fc.array(safeReply, { maxLength: 10 }), cuts, async (cl, cc, sl, sc) => {
      const c = Buffer.from(cl.join(''));
      const s = Buffer.from(sl.join(''));
      const o = await run(split(c, cc), split(s, sc), '127.0.0.1', 8192);
      assert.deepEqual(o.atServer, c);
      assert.deepEqual(o.atClient, s);
      assert.equal(o.result.end, 'eof');
    }),
    { numRuns: RUNS },
  );
});
