// `npm run bench -- secsock`: messages/s and MB/s of SecSockets channels
// (TLS-framed TCP, AEAD-sealed UDP) next to raw unencrypted TCP and UDP on
// loopback, measured in the same run, at 64 B, 1400 B and 64 KiB messages.
//
// UDP senders keep at most two windows of ~512 KiB unacknowledged (the
// receiver acks each window), for raw and sealed alike, so neither measures
// how fast the kernel can drop datagrams. Loss, if any, is reported.
//
// Sender and receiver share this process, so its CPU time per message
// received is also reported: on a machine shared with other work, that ratio
// holds still where the messages-per-second one swings.
import { randomBytes } from 'node:crypto';
import { makeTestPki } from '../src/pki/testing.js';
import { pair } from '../src/secsock/testing.js';
import { rawTcpPair, rawUdpPair, type LinkPair, type MessageLink } from './raw-links.js';

const SIZES = [64, 1400, 64 * 1024];
const RUN_MS = Number(process.env.INSEL_BENCH_MS ?? 1500);
const WINDOW_BYTES = 512 * 1024;
const ACK = Buffer.from('ack');

interface Result {
  msgsPerSec: number;
  mbPerSec: number;
  lost: number;
  /** Process CPU time (user + system) per message received, µs. */
  cpuUs: number;
}

/** Streams `size`-byte messages from a to b for RUN_MS; UDP with windowed acks. */
async function measure(p: LinkPair, size: number, udp: boolean): Promise<Result> {
  const window = Math.max(16, Math.floor(WINDOW_BYTES / size));
  const msg = randomBytes(size);
  let received = 0;
  let target = Number.POSITIVE_INFINITY;
  let finish = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  void (async () => {
    for (let m = await p.b.recv(); m !== null; m = await p.b.recv()) {
      received++;
      if (udp && received % window === 0) void p.b.send(ACK).catch(() => undefined);
      if (received >= target) finish();
    }
  })();
  let acked = 0;
  let ackWaiter: (() => void) | undefined;
  if (udp) void countAcks(p.a, () => (acked++, ackWaiter?.()));
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  let sent = 0;
  let stalled = false;
  while (performance.now() - start < RUN_MS && !stalled) {
    await p.a.send(msg);
    sent++;
    if (udp && sent % window === 0 && sent / window - acked > 2) {
      stalled = !(await within(1000, (resolve) => (ackWaiter = () => sent / window - acked <= 2 && resolve())));
    }
  }
  target = sent;
  if (received >= sent) finish();
  await Promise.race([finished, new Promise((r) => setTimeout(r, 2000))]);
  const secs = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { msgsPerSec: received / secs, mbPerSec: (received * size) / secs / 1e6, lost: sent - received, cpuUs: (cpu.user + cpu.system) / Math.max(1, received) };
}

async function countAcks(link: MessageLink, onAck: () => void): Promise<void> {
  for (let m = await link.recv(); m !== null; m = await link.recv()) onAck();
}

function within(ms: number, arm: (resolve: () => void) => void): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    arm(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export async function secsock(): Promise<void> {
  const pki = await makeTestPki();
  const rows: string[][] = [];
  try {
    for (const transport of ['tcp', 'udp'] as const) {
      for (const size of SIZES) {
        const raw = transport === 'tcp' ? await rawTcpPair() : await rawUdpPair(1400);
        const base = await measure(raw, size, transport === 'udp');
        await raw.close();
        const sec = await pair(pki, transport);
        const ours = await measure({ a: sec.client, b: sec.accepted, close: () => sec.close() }, size, transport === 'udp');
        const cipher = `${sec.client.params.aead}${transport === 'tcp' ? ` (TLS ${sec.client.params.tlsCipher})` : ''}`;
        await sec.close();
        rows.push([
          transport,
          size === 65536 ? '64 KiB' : `${size} B`,
          fmt(base.msgsPerSec),
          fmt(base.mbPerSec, 1),
          fmt(ours.msgsPerSec),
          fmt(ours.mbPerSec, 1),
          fmt(ours.mbPerSec / base.mbPerSec, 2),
          `${fmt(base.cpuUs, 1)} / ${fmt(ours.cpuUs, 1)}`,
          fmt(base.cpuUs / ours.cpuUs, 2),
          transport === 'udp' ? `${base.lost} / ${ours.lost}` : '-',
          cipher,
        ]);
        process.stderr.write(`${transport} ${size} B done\n`);
      }
    }
  } finally {
    pki.cleanup();
  }
  const head = ['transport', 'message', 'raw msg/s', 'raw MB/s', 'insel msg/s', 'insel MB/s', 'insel/raw', 'CPU µs/msg raw/insel', 'insel/raw by CPU', 'lost raw/insel', 'protection'];
  console.log(`SecSockets vs raw loopback, ${RUN_MS} ms per cell, Node ${process.version}, ${new Date().toISOString()}\n`);
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}
