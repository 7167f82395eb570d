// Child processes of `npm run bench -- forward-udp`, one role each (argv[2]):
//   echo                      echoes every datagram to its sender
//   relay TARGET              a plain Node UDP relay: one socket per source towards the target, no crypto
//   gateway                   a SecSockets UDP server with the -U gateway (identity in INSEL_BENCH_ID)
//   forward TCPPORT TARGET    insel's -U client end (identity in INSEL_BENCH_ID)
//   load PORT RATES           512 B datagrams at each rate for RATE_MS, prints the echoes counted
// Each prints "port N" once it listens.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { connect } from '../src/secsock/client.js';
import { SecServer } from '../src/secsock/server.js';
import { UdpGateway } from '../src/forward/udp-gateway.js';
import { UdpLocalForward } from '../src/forward/udp-local.js';

const LOOP = '127.0.0.1';
const BUFFER = 8 * 1024 * 1024;
const RATE_MS = Number(process.env.INSEL_BENCH_RATE_MS ?? 1000);
const DRAIN_MS = 500;

async function bound(port = 0): Promise<Socket> {
  const s = createSocket({ type: 'udp4', recvBufferSize: BUFFER, sendBufferSize: BUFFER });
  await new Promise<void>((resolve) => s.bind(port, LOOP, resolve));
  return s;
}

async function echo(): Promise<number> {
  const s = await bound();
  s.on('message', (m: Buffer, from: RemoteInfo) => s.send(m, from.port, from.address));
  return s.address().port;
}

async function relay(target: number): Promise<number> {
  const s = await bound();
  const upstream = new Map<string, Socket>();
  s.on('message', (m: Buffer, from: RemoteInfo) => {
    const key = `${from.address}:${from.port}`;
    let up = upstream.get(key);
    if (up === undefined) {
      const u = createSocket({ type: 'udp4', recvBufferSize: BUFFER, sendBufferSize: BUFFER });
      u.on('message', (r: Buffer) => s.send(r, from.port, from.address));
      upstream.set(key, (up = u));
    }
    up.send(m, target, LOOP);
  });
  return s.address().port;
}

const identity = () => JSON.parse(process.env.INSEL_BENCH_ID ?? '{}') as { cert: string; key: string; ca: string; crl?: string };

async function gateway(): Promise<number> {
  const server = await SecServer.listen({ transport: 'udp', host: LOOP, identity: identity(), peerRoles: ['user'] });
  const gw = new UdpGateway({ server, authorize: async () => ({ allow: true, address: LOOP }), idleMs: 60_000, log: { info: () => undefined, warn: () => undefined } });
  gw.start();
  return server.port;
}

async function forward(tcpPort: number, target: number): Promise<number> {
  const fwd = await UdpLocalForward.start({
    bind: LOOP,
    port: 0,
    host: LOOP,
    hostPort: target,
    idleMs: 60_000,
    openChannel: () => connect({ transport: 'udp', host: LOOP, port: tcpPort, identity: identity() }),
  });
  return fwd.port;
}

/** Paces by the clock in event-loop turns; the first echo opens the path (a -U flow's OPEN). */
async function load(port: number, rates: number[]): Promise<void> {
  const s = await bound();
  let got = 0;
  // Each round marks its datagrams: a late echo of an earlier round is not counted.
  const msg = Buffer.alloc(512, 0x5a);
  s.on('message', (m: Buffer) => void (m[0] === msg[0] && got++));
  for (let i = 0; i < 50 && got === 0; i++) {
    s.send(msg, port, LOOP);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The first rate once unreported: JIT and socket buffers warm up.
  for (const [i, rate] of [rates[0]!, ...rates].entries()) {
    msg[0] = i;
    got = 0;
    let sent = 0;
    const t0 = performance.now();
    for (let now = t0; now - t0 < RATE_MS; now = performance.now()) {
      const due = Math.floor(((now - t0) / 1000) * rate);
      for (; sent < due; sent++) s.send(msg, port, LOOP);
      await new Promise(setImmediate);
    }
    await new Promise((r) => setTimeout(r, DRAIN_MS));
    if (i > 0) console.log(`rate ${rate} sent ${sent} echoed ${got}`);
  }
  console.log('done');
  s.close();
}

const [role, a, b] = process.argv.slice(2);
switch (role) {
  case 'echo':
    console.log(`port ${await echo()}`);
    break;
  case 'relay':
    console.log(`port ${await relay(Number(a))}`);
    break;
  case 'gateway':
    console.log(`port ${await gateway()}`);
    break;
  case 'forward':
    console.log(`port ${await forward(Number(a), Number(b))}`);
    break;
  case 'load':
    await load(Number(a), b!.split(',').map(Number));
    break;
  default:
    console.error(`unknown role ${role}`);
    process.exit(2);
}
