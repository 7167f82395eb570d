// The processes the forward bench measures with, each its own Node process so
// no relay shares an event loop with the load or the target:
//
//   node forward-peers.js target                 prints "listening PORT"
//   node forward-peers.js relay to=PORT          prints "listening PORT"
//   node forward-peers.js bulk port=P streams=S bytes=N   prints {"secs","bytes"}
//   node forward-peers.js conns port=P count=C            prints {"ms":[…]}
//
// Target protocol, decided by the first byte a client sends:
//   'E'  echo everything back (the connect test sends one byte, waits for it)
//   'B'  a u64 big-endian length L follows, then L bytes; the target sinks
//        them and answers with the u64 count once it has all L. No half-close
//        is needed, so every path is measured the same way.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

const ECHO = 0x45; // 'E'
const BULK = 0x42; // 'B'
const BULK_HEAD = 9;
const CHUNK = 1 << 20;

function arg(name: string): number {
  const a = process.argv.find((x) => x.startsWith(`${name}=`));
  const n = Number(a?.slice(name.length + 1));
  if (!Number.isFinite(n)) fail(`missing or bad ${name}=`);
  return n;
}

function fail(msg: string): never {
  process.stderr.write(`forward-peers: ${msg}\n`);
  process.exit(1);
}

/** Servers exit when the bench that started them is gone (re-parented). */
function exitWithParent(): void {
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && process.exit(0), 1000).unref();
  process.on('SIGTERM', () => process.exit(0));
}

function serveTarget(s: Socket): void {
  s.setNoDelay(true);
  s.on('error', () => s.destroy());
  let mode = 0;
  let head: Buffer = Buffer.alloc(0);
  let want = -1;
  let got = 0;
  s.on('data', (chunk: Buffer) => {
    if (mode === ECHO) return void s.write(chunk);
    if (want >= 0) {
      got += chunk.length;
      if (got >= want && got - chunk.length < want) answer();
      return;
    }
    head = head.length ? Buffer.concat([head, chunk]) : chunk;
    mode = head[0] ?? 0;
    if (mode === ECHO) return void s.write(head);
    if (mode !== BULK) return void s.destroy();
    if (head.length < BULK_HEAD) return;
    want = Number(head.readBigUInt64BE(1));
    got = head.length - BULK_HEAD;
    head = Buffer.alloc(0);
    if (got >= want) answer();
  });
  function answer(): void {
    const r = Buffer.alloc(8);
    r.writeBigUInt64BE(BigInt(got));
    s.write(r);
  }
}

/** A plain userspace relay: accept, connect to the target, pipe both ways. No crypto. */
function serveRelay(c: Socket, to: number): void {
  const t = connect(to, '127.0.0.1');
  c.setNoDelay(true);
  t.setNoDelay(true);
  c.pipe(t);
  t.pipe(c);
  c.on('error', () => t.destroy());
  t.on('error', () => c.destroy());
  c.on('close', () => t.destroy());
  t.on('close', () => c.destroy());
}

async function listen(onConn: (s: Socket) => void): Promise<void> {
  exitWithParent();
  const server = createServer(onConn);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
}

/** Rejects when `s` closes or fails, so no wait on it can hang. */
function whenClosed(s: Socket): Promise<never> {
  return new Promise((_, reject) => {
    s.on('error', reject);
    s.on('close', () => reject(new Error('connection closed early')));
  });
}

async function oneStream(port: number, bytes: number, chunk: Buffer): Promise<void> {
  const s = connect(port, '127.0.0.1');
  s.setNoDelay(true);
  const closed = whenClosed(s);
  closed.catch(() => undefined);
  const reply = new Promise<number>((resolve) => {
    let acc = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      if (acc.length >= 8) resolve(Number(acc.readBigUInt64BE(0)));
    });
  });
  await Promise.race([once(s, 'connect'), closed]);
  const head = Buffer.alloc(BULK_HEAD);
  head[0] = BULK;
  head.writeBigUInt64BE(BigInt(bytes), 1);
  s.write(head);
  for (let left = bytes; left > 0; ) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= piece.length;
    if (!s.write(piece)) await Promise.race([once(s, 'drain'), closed]);
  }
  const got = await Promise.race([reply, closed]);
  s.destroy();
  if (got !== bytes) throw new Error(`target counted ${got} bytes, sent ${bytes}`);
}

async function bulk(): Promise<void> {
  const port = arg('port');
  const streams = arg('streams');
  const bytes = arg('bytes');
  const chunk = randomBytes(CHUNK);
  const start = performance.now();
  await Promise.all(Array.from({ length: streams }, () => oneStream(port, bytes, chunk)));
  const secs = (performance.now() - start) / 1000;
  process.stdout.write(`${JSON.stringify({ secs, bytes: bytes * streams })}\n`);
}

/** Connect, send 'E', wait for it back: milliseconds from connect() to the echo. */
function connEcho(port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = connect(port, '127.0.0.1');
    s.setNoDelay(true);
    const timer = setTimeout(() => done(new Error(`no echo within ${timeoutMs} ms`)), timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      s.destroy();
      if (err) reject(err);
      else resolve(ms);
    };
    s.on('connect', () => s.write(Buffer.of(ECHO)));
    s.once('data', () => done());
    s.on('error', (e) => done(e));
    s.on('close', () => done(new Error('closed before the echo')));
  });
}

async function conns(): Promise<void> {
  const port = arg('port');
  const count = arg('count');
  const ms: number[] = [];
  for (let i = 0; i < count; i++) ms.push(await connEcho(port, 10_000));
  process.stdout.write(`${JSON.stringify({ ms })}\n`);
}

const role = process.argv[2];
const limit = Number(process.env.FORWARD_PEERS_TIMEOUT_MS ?? 0);
if (limit > 0) setTimeout(() => fail(`${role}: gave up after ${limit} ms`), limit).unref();
try {
  if (role === 'target') await listen(serveTarget);
  else if (role === 'relay') {
    const to = arg('to');
    await listen((c) => serveRelay(c, to));
  } else if (role === 'bulk') await bulk();
  else if (role === 'conns') await conns();
  else fail(`unknown role ${role}: target, relay, bulk or conns`);
} catch (err) {
  fail(`${role}: ${err instanceof Error ? err.message : String(err)}`);
}
if (role === 'bulk' || role === 'conns') process.exit(0);
