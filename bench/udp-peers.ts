// The processes of the forward bench's UDP row, each its own Node process:
//
//   node udp-peers.js sink           counts datagrams; prints "listening PORT"
//   node udp-peers.js relay to=PORT  a plain UDP relay; prints "listening PORT"
//   node udp-peers.js load port=P sink=S run=N rates=R1,R2,… secs=T size=B
//        sends T s worth of B-byte datagrams at each rate (datagrams/s) to P,
//        asks the sink directly how many arrived; prints {"steps":[…]}
//        With socks=X it sends them through a UDP association of the SOCKS5
//        proxy on 127.0.0.1:X (insel forward -D) to P, each datagram behind a
//        SOCKS UDP header (10 bytes for 127.0.0.1:P).
//
// Wire (big-endian):
//   data    'D' u32 step, u32 seq, padding to B bytes   load → path → sink
//   query   'Q' u32 step                                load → sink, straight
//   answer  'A' u32 step, u32 distinct, u32 duplicates  sink → load
// The sink marks each seq of the current step in a bitmap, so reordering is
// not loss and duplicates are not delivery. A datagram of a newer step starts
// a new count; older steps are ignored (late stragglers). Step numbers are
// run * 64 + i, so loads after one another never go back.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UdpStep } from './forward-udp.js';
import { arg, fail, optionalArg, runRole, text } from './peer-role.js';
import { socksAssociate } from './socks-client.js';
import { encodeUdpHeader } from '../src/socks/udp-header.js';

const DATA = 0x44; // 'D'
const QUERY = 0x51; // 'Q'
const ANSWER = 0x41; // 'A'
const HEAD = 9;
const STEPS_PER_RUN = 64;
/** Seqs the sink tracks per step: 512 KiB of bitmap, ~20 s at 100,000 datagrams/s. */
const MAX_SEQ = 1 << 22;
/** Kernel buffers asked for on every socket (as insel's UDP forward does); the kernel caps them at net.core.[rw]mem_max. */
const SOCKET_BUFFER = 4 * 1024 * 1024;
/** Flows the relay keeps; beyond, new sources are dropped. */
const MAX_FLOWS = 64;
/** Datagrams a flow holds until its socket is connected. */
const FLOW_QUEUE = 16;
/** The sender catches up at most this much time's worth per timer tick after a stall. */
const BURST_MS = 5;
const QUERY_TIMEOUT_MS = 200;
const QUERY_TRIES = 10;
const SETTLE_POLL_MS = 100;
const SETTLE_MAX_POLLS = 30;
const WARM_TRIES = 100;
const WARM_POLL_MS = 100;

async function udpSocket(): Promise<Socket> {
  const s = createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

function listening(s: Socket): void {
  process.stdout.write(`listening ${s.address().port} rcvbuf ${s.getRecvBufferSize()}\n`);
}

async function sink(): Promise<void> {
  const s = await udpSocket();
  const seen = new Uint8Array(MAX_SEQ >> 3);
  const answer = Buffer.alloc(13);
  answer[0] = ANSWER;
  let step = -1;
  let distinct = 0;
  let dups = 0;
  s.on('message', (m: Buffer, from: RemoteInfo) => {
    if (m.length >= HEAD && m[0] === DATA) {
      const st = m.readUInt32BE(1);
      const seq = m.readUInt32BE(5);
      if (st !== step) {
        if (st < step) return;
        step = st;
        seen.fill(0);
        distinct = 0;
        dups = 0;
      }
      if (seq >= MAX_SEQ) return;
      const bit = 1 << (seq & 7);
      if ((seen[seq >> 3] as number) & bit) dups++;
      else {
        seen[seq >> 3] = (seen[seq >> 3] as number) | bit;
        distinct++;
      }
    } else if (m.length >= 5 && m[0] === QUERY) {
      const st = m.readUInt32BE(1);
      answer.writeUInt32BE(st, 1);
      answer.writeUInt32BE(st === step ? distinct : 0, 5);
      answer.writeUInt32BE(st === step ? dups : 0, 9);
      s.send(answer, from.port, from.address);
    }
  });
  listening(s);
}

/** Per source a socket connected to the target, like insel's gateway end of a UDP flow. No crypto. */
async function relay(): Promise<void> {
  const to = arg('to');
  const front = await udpSocket();
  const flows = new Map<string, Map<number, { socket: Socket; queue: Buffer[] | undefined }>>();
  let count = 0;
  front.on('message', (m: Buffer, from: RemoteInfo) => {
    let byPort = flows.get(from.address);
    let flow = byPort?.get(from.port);
    if (flow === undefined) {
      if (count >= MAX_FLOWS) return;
      count++;
      const socket = createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
      const made = { socket, queue: [] as Buffer[] | undefined };
      flow = made;
      socket.on('error', () => undefined);
      socket.on('message', (back: Buffer) => front.send(back, from.port, from.address));
      socket.connect(to, '127.0.0.1', () => {
        for (const q of made.queue ?? []) socket.send(q);
        made.queue = undefined;
      });
      if (byPort === undefined) flows.set(from.address, (byPort = new Map()));
      byPort.set(from.port, made);
    }
    if (flow.queue === undefined) flow.socket.send(m);
    else if (flow.queue.length < FLOW_QUEUE) flow.queue.push(m);
  });
  front.on('error', () => undefined);
  listening(front);
}

/** Asks the sink, straight, what it has of `step`. */
function asker(ctl: Socket): (step: number) => Promise<{ distinct: number; dups: number }> {
  const waiting = new Map<number, (a: { distinct: number; dups: number }) => void>();
  ctl.on('message', (m: Buffer) => {
    if (m.length < 13 || m[0] !== ANSWER) return;
    waiting.get(m.readUInt32BE(1))?.({ distinct: m.readUInt32BE(5), dups: m.readUInt32BE(9) });
  });
  const q = Buffer.alloc(5);
  q[0] = QUERY;
  return async (step) => {
    for (let i = 0; i < QUERY_TRIES; i++) {
      const got = new Promise<{ distinct: number; dups: number } | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), QUERY_TIMEOUT_MS);
        waiting.set(step, (a) => {
          clearTimeout(timer);
          resolve(a);
        });
      });
      q.writeUInt32BE(step, 1);
      ctl.send(q);
      const a = await got;
      waiting.delete(step);
      if (a) return a;
    }
    throw new Error(`the sink did not answer ${QUERY_TRIES} queries`);
  };
}

/** A datagram of `step` numbered `seq`, padded from `template`, whose data starts at `at` (after a SOCKS UDP header). */
function datagram(template: Buffer, at: number, step: number, seq: number): Buffer {
  const b = Buffer.allocUnsafe(template.length);
  template.copy(b);
  b.writeUInt32BE(step, at + 1);
  b.writeUInt32BE(seq, at + 5);
  return b;
}

/**
 * Sends `count` datagrams at `rate` per second: each timer tick sends what is
 * due by the clock, at most BURST_MS worth, so a stalled sender slows down
 * rather than bursting. Gives up at a deadline; `sent` says how far it got.
 */
function paced(data: Socket, template: Buffer, at: number, step: number, rate: number, count: number): Promise<{ sent: number; secs: number }> {
  return new Promise((resolve) => {
    const burst = Math.max(8, Math.ceil((rate * BURST_MS) / 1000));
    const t0 = performance.now();
    const deadline = t0 + (count / rate) * 3000 + 5000;
    let seq = 0;
    const tick = () => {
      const now = performance.now();
      const until = Math.min(count, Math.ceil(((now - t0) / 1000) * rate), seq + burst);
      for (; seq < until; seq++) data.send(datagram(template, at, step, seq));
      if (seq >= count || now > deadline) resolve({ sent: seq, secs: (performance.now() - t0) / 1000 });
      else setTimeout(tick, 1);
    };
    tick();
  });
}

/** Polls the sink until its count of `step` stops growing (the path has drained). */
async function settle(ask: (step: number) => Promise<{ distinct: number; dups: number }>, step: number): Promise<{ distinct: number; dups: number }> {
  let last = await ask(step);
  for (let i = 0; i < SETTLE_MAX_POLLS; i++) {
    await sleep(SETTLE_POLL_MS);
    const now = await ask(step);
    if (now.distinct === last.distinct) return now;
    last = now;
  }
  return last;
}

/**
 * Connects `data` to where the load goes for 127.0.0.1:port: straight, or
 * with socks= to the relay of a new UDP association. Returns the header each
 * datagram needs (empty when straight).
 */
async function path(data: Socket, port: number): Promise<Buffer> {
  const socks = optionalArg('socks');
  if (socks === undefined) {
    data.connect(port, '127.0.0.1');
    return Buffer.alloc(0);
  }
  const { control, relay } = await socksAssociate(socks, '127.0.0.1', data.address().port);
  // The association lives as long as its control connection: if it goes, so does the measurement.
  control.on('error', () => undefined); // the close follows
  control.once('close', () => fail('the SOCKS5 proxy closed the UDP association (its control connection)'));
  // An unspecified relay address means the proxy's own (RFC 1928 leaves it open; clients do this).
  data.connect(relay.port, relay.host === '0.0.0.0' || relay.host === '::' ? '127.0.0.1' : relay.host);
  return encodeUdpHeader('127.0.0.1', port);
}

async function load(): Promise<void> {
  const port = arg('port');
  const sinkPort = arg('sink');
  const base = arg('run') * STEPS_PER_RUN;
  const secs = arg('secs');
  const size = arg('size');
  const rates = text('rates').split(',').map(Number);
  if (size < HEAD || size > 65_507) fail(`size must be ${HEAD}..65507`);
  if (rates.length === 0 || rates.length >= STEPS_PER_RUN || rates.some((r) => !(r > 0) || r * secs >= MAX_SEQ)) fail(`rates: 1 to ${STEPS_PER_RUN - 1} rates, each times secs below ${MAX_SEQ}`);
  const data = await udpSocket();
  const header = await path(data, port);
  await once(data, 'connect');
  let sendErrors = 0;
  data.on('error', () => sendErrors++);
  const ctl = await udpSocket();
  ctl.connect(sinkPort, '127.0.0.1');
  await once(ctl, 'connect');
  const ask = asker(ctl);
  const template = Buffer.alloc(header.length + size);
  header.copy(template);
  template[header.length] = DATA;
  // Warm-up: a trickle until the sink sees it (insel opens its flow on the first datagram).
  let warm = 0;
  for (let i = 0; i < WARM_TRIES && (await ask(base)).distinct === 0; i++) {
    for (let j = 0; j < 4; j++) data.send(datagram(template, header.length, base, warm++));
    await sleep(WARM_POLL_MS);
  }
  if ((await ask(base)).distinct === 0) throw new Error(`none of ${warm} datagrams reached the sink through port ${port}`);
  const steps: UdpStep[] = [];
  for (const [i, rate] of rates.entries()) {
    const step = base + 1 + i;
    const errorsBefore = sendErrors;
    const { sent, secs: took } = await paced(data, template, header.length, step, rate, Math.round(rate * secs));
    const got = await settle(ask, step);
    steps.push({ rate, sent, got: got.distinct, dups: got.dups, secs: took, sendErrors: sendErrors - errorsBefore });
  }
  process.stdout.write(`${JSON.stringify({ steps, sndbuf: data.getSendBufferSize() })}\n`);
}

await runRole({ sink, relay }, { load });
