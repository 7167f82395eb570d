// The processes the forward bench measures with, each its own Node process so
// no relay shares an event loop with the load or the target:
//
//   node forward-peers.js target                 prints "listening PORT"
//   node forward-peers.js relay to=T1,T2…        prints "listening P1 P2…", Pi relaying to Ti
//   node forward-peers.js bulk port=P streams=S bytes=N   prints {"secs","bytes"}
//   node forward-peers.js conns port=P count=C            prints {"ms":[…]}
//   node forward-peers.js flood port=P streams=S secs=T   prints "flowing" once every
//        stream is under way, then "bytes N MS" every 100 ms; stops after T s
//   node forward-peers.js echoes port=P count=C gap=MS    prints {"ms":[…]}
// The client roles take socks=S: they then reach 127.0.0.1:P through the SOCKS5
// proxy on 127.0.0.1:S (insel forward -D), a CONNECT per connection.
//
// Target protocol, decided by the first byte a client sends:
//   'E'  echo everything back (the connect test sends one byte, waits for it;
//        echoes sends 'E' once, then one byte per round trip)
//   'B'  a u64 big-endian length L follows, then L bytes; the target sinks
//        them and answers with the u64 count once it has all L. No half-close
//        is needed, so every path is measured the same way. flood sends an
//        L it never reaches.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { arg, optionalArg, runRole, text } from './peer-role.js';
import { dialLoopback } from './socks-client.js';
import { echoOnce } from './forward-procs.js';

const ECHO = 0x45; // 'E'
const BULK = 0x42; // 'B'
const BULK_HEAD = 9;
const CHUNK = 1 << 20;
/** flood writes smaller chunks than bulk so it notices the end of its time promptly. */
const FLOOD_CHUNK = 64 * 1024;
const FLOWING_MS = 300;
const FLOWING_BYTES = 1 << 20;
const REPORT_MS = 100;
const ECHO_TIMEOUT_MS = 10_000;

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

async function server(onConn: (s: Socket) => void): Promise<number> {
  const srv = createServer(onConn);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return (srv.address() as { port: number }).port;
}

async function listen(...servers: Promise<number>[]): Promise<void> {
  process.stdout.write(`listening ${(await Promise.all(servers)).join(' ')}\n`);
}

const SOCKS = optionalArg('socks');

/** Rejects when `s` closes or fails, so no wait on it can hang. */
function whenClosed(s: Socket): Promise<never> {
  return new Promise((_, reject) => {
    s.on('error', reject);
    s.on('close', () => reject(new Error('connection closed early')));
  });
}

/** Connects and announces a bulk transfer of `bytes`; `closed` rejects when the connection ends. */
async function openBulk(port: number, bytes: number): Promise<{ s: Socket; closed: Promise<never> }> {
  const s = await dialLoopback(port, SOCKS);
  const closed = whenClosed(s);
  closed.catch(() => undefined);
  const head = Buffer.alloc(BULK_HEAD);
  head[0] = BULK;
  head.writeBigUInt64BE(BigInt(bytes), 1);
  s.write(head);
  return { s, closed };
}

async function oneStream(port: number, bytes: number, chunk: Buffer): Promise<void> {
  const { s, closed } = await openBulk(port, bytes);
  const reply = new Promise<number>((resolve) => {
    let acc = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      if (acc.length >= 8) resolve(Number(acc.readBigUInt64BE(0)));
    });
  });
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

/** Connect, send 'E', wait for it back: milliseconds from connect() (and the SOCKS5 handshake) to the echo. */
async function connEcho(port: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  await echoOnce(port, timeoutMs, SOCKS);
  return performance.now() - t0;
}

async function conns(): Promise<void> {
  const port = arg('port');
  const count = arg('count');
  const ms: number[] = [];
  for (let i = 0; i < count; i++) ms.push(await connEcho(port, 10_000));
  process.stdout.write(`${JSON.stringify({ ms })}\n`);
}

/** Writes as fast as the path takes it until `until` (performance.now() ms); counts into sent[i]. */
async function floodStream(port: number, chunk: Buffer, until: number, sent: number[], i: number): Promise<void> {
  const { s, closed } = await openBulk(port, Number.MAX_SAFE_INTEGER);
  while (performance.now() < until) {
    sent[i] = (sent[i] ?? 0) + chunk.length;
    if (!s.write(chunk)) await Promise.race([once(s, 'drain'), closed]);
  }
  s.destroy();
}

/** Bulk load for the head-of-line test: runs beside `echoes` and reports how much it moved meanwhile. */
async function flood(): Promise<void> {
  const port = arg('port');
  const streams = arg('streams');
  const secs = arg('secs');
  const chunk = randomBytes(FLOOD_CHUNK);
  const t0 = performance.now();
  const sent = Array.from({ length: streams }, () => 0);
  let flowing = false;
  const report = setInterval(() => {
    const total = sent.reduce((a, b) => a + b, 0);
    if (!flowing && performance.now() - t0 >= FLOWING_MS && sent.every((n) => n >= FLOWING_BYTES)) {
      flowing = true;
      process.stdout.write('flowing\n');
    }
    process.stdout.write(`bytes ${total} ${(performance.now() - t0).toFixed(1)}\n`);
  }, REPORT_MS);
  try {
    await Promise.all(sent.map((_, i) => floodStream(port, chunk, t0 + secs * 1000, sent, i)));
  } finally {
    clearInterval(report);
  }
}

/** One connection in echo mode; `count` one-byte round trips `gap` ms apart, in ms each. */
async function echoes(): Promise<void> {
  const port = arg('port');
  const count = arg('count');
  const gap = arg('gap');
  const s = await dialLoopback(port, SOCKS);
  const closed = whenClosed(s);
  closed.catch(() => undefined);
  let wake: (() => void) | undefined;
  s.on('data', () => wake?.());
  const roundTrip = (byte: Buffer) =>
    Promise.race([
      closed,
      new Promise<number>((resolve, reject) => {
        const t0 = performance.now();
        const timer = setTimeout(() => reject(new Error(`no echo within ${ECHO_TIMEOUT_MS} ms`)), ECHO_TIMEOUT_MS);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve(performance.now() - t0);
        };
        s.write(byte);
      }),
    ]);
  await roundTrip(Buffer.of(ECHO));
  const one = Buffer.of(0x2e);
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    ms.push(await roundTrip(one));
    await sleep(gap);
  }
  s.destroy();
  process.stdout.write(`${JSON.stringify({ ms })}\n`);
}

await runRole(
  {
    target: () => listen(server(serveTarget)),
    relay: () => listen(...text('to').split(',').map((to) => server((c) => serveRelay(c, Number(to))))),
  },
  { bulk, conns, flood, echoes },
);
