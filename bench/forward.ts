// `npm run bench -- forward`: port forwarding on loopback, in one run.
//
// TCP, six ways: straight to the target (direct), through a plain Node
// relay, ssh -L through a private sshd, a stunnel client/server pair,
// insel forward -L through an insel gateway (one session over TLS for all
// connections), and insel forward -D through the same gateway (a SOCKS5
// CONNECT per connection, by a tiny client in the load: socks-client.ts).
//
//   load (bench/forward-peers.js bulk|conns|flood) -> path -> target (forward-peers.js target)
//   echoes (forward-peers.js echoes)          -> path -> echo target (a second forward-peers.js target)
//
// Per path: MB/s of one stream and of four parallel streams (the target
// counts every byte and answers when it has them all), and the time to open a
// new forwarded connection through the already-open session: connect plus a
// one-byte echo, sequentially. Head-of-line: one-byte echoes on one
// connection while two bulk uploads run on two others of the same path (same
// insel session, same ssh connection), median and p90 round trip, and what
// bulk moved meanwhile (forward-hol.ts).
//
// UDP, four ways: straight to the sink (direct), through a plain Node UDP
// relay (raw UDP, the baseline), insel forward -U through the same gateway,
// and a SOCKS5 UDP association of insel forward -D (each datagram with its
// SOCKS UDP header from the load to the forwarder). 512 B datagrams at rising rates, each rate UDP_SECS seconds'
// worth, paced; the sink counts distinct sequence numbers; per path the loss
// at each rate and the highest rate with < 0.1% loss (forward-udp.ts).
//
// Load, target, sink and each relay are separate processes, so no Node relay
// shares its event loop with the load. All paths are started first, then
// measured in turn, round by round (ratios hold up on a busy machine better
// than path after path).
//
// INSEL_BENCH_MIB (default 256) bytes per bulk run (split over the 4 streams),
// INSEL_BENCH_REPS (default 3) rounds (medians reported),
// INSEL_BENCH_CONNS (default 200) connections for the connect test,
// INSEL_BENCH_ECHOES (default 300) echoes for the head-of-line test,
// INSEL_BENCH_UDP_RATES (default 10000,20000,50000,75000,100000) datagrams/s,
// INSEL_BENCH_UDP_SECS (default 1) seconds' worth per rate;
// counts are split over the rounds.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { holRound, HOL_GAP_MS, HOL_STREAMS } from './forward-hol.js';
import { Proc, benchRun, runPeer } from './forward-procs.js';
import { sshDynamic, sshVersion, startInsel, startRelay, startSsh, startStunnel, stunnelVersion, type InselHandle, type PathHandle, type SshHandle } from './forward-paths.js';
import { startUdpPeer, startUdpRelay, udpRound, udpTable, UDP_SECS, UDP_SIZE, type UdpRow } from './forward-udp.js';
import { fmt, markdown, median, p90, ratio, why } from './report.js';
import { encodeUdpHeader } from '../src/socks/udp-header.js';

/** The SOCKS UDP header the load adds for 127.0.0.1:port. */
const SOCKS_UDP_HEADER = encodeUdpHeader('127.0.0.1', 1).length;

const MIB = Number(process.env.INSEL_BENCH_MIB ?? 256);
const REPS = Number(process.env.INSEL_BENCH_REPS ?? 3);
const CONNS = Number(process.env.INSEL_BENCH_CONNS ?? 200);
const ECHOES = Number(process.env.INSEL_BENCH_ECHOES ?? 300);
const WARM_MIB = 16;
const WARM_CONNS = 20;
const BULK_TIMEOUT_MS = 180_000;
const CONNS_TIMEOUT_MS = 120_000;
const START_MS = 20_000;
/** Issue 13's target for insel's head-of-line echo. */
const HOL_TARGET_MS = 2;

const PEERS = fileURLToPath(new URL('./forward-peers.js', import.meta.url));
const UDP_PEERS = fileURLToPath(new URL('./udp-peers.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface TcpRow {
  path: string;
  protection: string;
  /** Why the row has no figures (not available, failed). */
  note?: string;
  port: number;
  echoPort: number;
  /** the SOCKS5 proxy port of a -D path (PathHandle.socks) */
  socks?: number;
  one: number[];
  four: number[];
  ms: number[];
}

/** The head-of-line figures of a path, apart from TcpRow so that either can fail alone. */
interface HolRow {
  path: string;
  protection: string;
  note?: string;
  port: number;
  echoPort: number;
  socks?: number;
  ms: number[];
  bulk: number[];
}

interface Measured {
  one: number;
  four: number;
  median: number;
  p90: number;
}

function measured(r: TcpRow): Measured | undefined {
  if (r.note !== undefined || r.one.length === 0) return undefined;
  return { one: median(r.one), four: median(r.four), median: median(r.ms), p90: p90(r.ms) };
}

async function bulkMBps(r: TcpRow, streams: number, mib: number): Promise<number> {
  const bytes = Math.floor((mib * 1024 * 1024) / streams);
  const b = await runPeer<{ secs: number; bytes: number }>(PEERS, ['bulk', `port=${r.port}`, `streams=${streams}`, `bytes=${bytes}`, ...socksArgs(r)], BULK_TIMEOUT_MS);
  return b.bytes / b.secs / 1e6;
}

const conns = async (r: TcpRow, count: number) => (await runPeer<{ ms: number[] }>(PEERS, ['conns', `port=${r.port}`, `count=${count}`, ...socksArgs(r)], CONNS_TIMEOUT_MS)).ms;

/**
 * Runs `f` on each row in turn, once per call, so a busy neighbour on the
 * machine slows every path alike instead of one row. A path that fails is
 * marked and left out of later rounds; direct failing means the bench itself
 * is broken.
 */
export async function inTurn<R extends { path: string; note?: string }>(rows: readonly R[], what: string, f: (r: R) => Promise<void>): Promise<void> {
  for (const r of rows) {
    if (r.note !== undefined) continue;
    try {
      await f(r);
    } catch (err) {
      if (r.path === 'direct') throw err;
      r.note = `failed (${what}): ${why(err)}`;
      process.stderr.write(`${r.path}: ${r.note}\n`);
    }
  }
}

/** What the load processes need to reach a row's targets: through its SOCKS5 proxy, if it has one. */
const socksArgs = (r: { socks?: number }) => (r.socks === undefined ? [] : [`socks=${r.socks}`]);

/** The share of `total` for round `i` of REPS. */
const share = (total: number, i: number) => Math.floor((total * (i + 1)) / REPS) - Math.floor((total * i) / REPS);

async function measureAll(tcp: TcpRow[], hol: HolRow[], udp: UdpRow[], sink: number): Promise<void> {
  await inTurn(tcp, 'warm-up', async (r) => {
    await bulkMBps(r, 1, WARM_MIB);
    await conns(r, WARM_CONNS);
  });
  for (let i = 0; i < REPS; i++) {
    await inTurn(tcp, '1 stream', async (r) => void r.one.push(await bulkMBps(r, 1, MIB)));
    await inTurn(tcp, '4 streams', async (r) => void r.four.push(await bulkMBps(r, 4, MIB)));
    await inTurn(tcp, 'new connections', async (r) => void r.ms.push(...(await conns(r, share(CONNS, i)))));
    await inTurn(hol, 'head-of-line', async (r) => {
      const h = await holRound(PEERS, r.port, r.echoPort, share(ECHOES, i), socksArgs(r));
      r.ms.push(...h.ms);
      r.bulk.push(h.bulkMBps);
    });
    await inTurn(udp, 'udp', async (r) => void r.rounds.push(await udpRound(UDP_PEERS, r.port, sink, socksArgs(r))));
    process.stderr.write(`round ${i + 1}/${REPS} done\n`);
  }
}

function throughputTable(rows: TcpRow[]): string[] {
  const base = rows.find((r) => r.path === 'direct');
  const ssh = rows.find((r) => r.path === 'ssh -L');
  const [bm, sm] = [base && measured(base), ssh && measured(ssh)];
  const pair = (m: Measured | undefined, k: keyof Measured) => `${ratio(m?.[k], bm?.[k])} / ${ratio(m?.[k], sm?.[k])}`;
  const head = ['path', '1 stream MB/s', '4 streams MB/s', 'new conn median ms', 'new conn p90 ms', '1 stream vs direct / ssh', '4 streams vs direct / ssh', 'conn median vs direct / ssh', 'protection'];
  return markdown(
    head,
    rows.map((r) => {
      const m = measured(r);
      const cells = m ? [fmt(m.one), fmt(m.four), fmt(m.median, 2), fmt(m.p90, 2), pair(m, 'one'), pair(m, 'four'), pair(m, 'median')] : head.slice(2).map(() => '-');
      return [r.path, ...cells, r.note ?? r.protection];
    }),
  );
}

const holMedian = (r: HolRow | undefined) => (r === undefined || r.note !== undefined || r.ms.length === 0 ? undefined : median(r.ms));

function holTable(rows: HolRow[]): string[] {
  const base = holMedian(rows.find((r) => r.path === 'direct'));
  const ssh = holMedian(rows.find((r) => r.path === 'ssh -L'));
  const head = ['path', 'echo median ms', 'echo p90 ms', 'ssh -L median ms', 'median vs direct / ssh', 'bulk MB/s meanwhile', 'protection'];
  return markdown(
    head,
    rows.map((r) => {
      const m = holMedian(r);
      const cells =
        m === undefined
          ? head.slice(2).map(() => '-')
          : [fmt(m, 2), fmt(p90(r.ms), 2), ssh === undefined ? '-' : fmt(ssh, 2), `${ratio(m, base)} / ${ratio(m, ssh)}`, fmt(median(r.bulk))];
      return [r.path, ...cells, r.note ?? r.protection];
    }),
  );
}

async function version(get: () => Promise<string>): Promise<string> {
  try {
    return await get();
  } catch (err) {
    return `not available (${why(err)})`;
  }
}

async function startTarget(name: string, procs: Proc[]): Promise<number> {
  const p = new Proc(name, process.execPath, [PEERS, 'target']);
  procs.push(p);
  return Number((await p.waitLine(/^listening (\d+)$/, START_MS))[1]);
}

/** Starts each path in order; one that cannot start becomes a row with the reason. */
async function startRows<R>(paths: [string, () => Promise<PathHandle>][], handles: PathHandle[], row: (path: string, h?: PathHandle, note?: string) => R): Promise<R[]> {
  const rows: R[] = [];
  for (const [name, start] of paths) {
    try {
      const h = await start();
      handles.push(h);
      rows.push(row(name, h));
      process.stderr.write(`${name}: ready on port ${h.port}${h.socks === undefined ? '' : ` through the SOCKS5 proxy on port ${h.socks}`} (${h.protection})\n`);
    } catch (err) {
      process.stderr.write(`${name}: not available: ${why(err)}\n`);
      rows.push(row(name, undefined, `not available: ${why(err)}`));
    }
  }
  return rows;
}

function inselStarted(insel: InselHandle | undefined): InselHandle {
  if (insel === undefined) throw new Error('the insel gateway did not start (see insel -L)');
  return insel;
}

/** -D beside -L, in the same run: the issue's target is within 5% on throughput and new-connection time; ssh's pair for scale. */
function dynamicSummary(rows: TcpRow[]): string {
  const pair = (name: string) => {
    const [l, d] = [`${name} -L`, `${name} -D`].map((p) => {
      const r = rows.find((x) => x.path === p);
      return r && measured(r);
    });
    if (l === undefined || d === undefined) return `${name} -D beside ${name} -L: no figures (see the table)`;
    return `${name} -D beside ${name} -L: 1 stream ${ratio(d.one, l.one)}, 4 streams ${ratio(d.four, l.four)}, new connection median ${ratio(d.median, l.median)}, p90 ${ratio(d.p90, l.p90)}`;
  };
  return (
    `${pair('insel')} (above 1 is faster for MB/s, slower for ms; target within 5%: 0.95-1.05 for MB/s, ≤ 1.05 for ms); for scale, ${pair('ssh')}. ` +
    '-D connections take a SOCKS5 greeting and request from the client first and send no data before the far end has accepted the target (ssh waits for its channel confirmation the same way); -L sends its first bytes with the OPEN.'
  );
}

export async function forward(): Promise<void> {
  const { tmp, done } = benchRun('forward');
  let tcp: TcpRow[] = [];
  let hol: HolRow[] = [];
  let udp: UdpRow[] = [];
  let sinkRcvbuf = 0;
  const handles: PathHandle[] = [];
  const peers: Proc[] = [];
  try {
    const targets = { target: await startTarget('target', peers), echo: await startTarget('echo target', peers) };
    const sink = await startUdpPeer('udp sink', UDP_PEERS, ['sink']);
    peers.push(sink.proc);
    sinkRcvbuf = sink.rcvbuf;
    let insel: InselHandle | undefined;
    let ssh: SshHandle | undefined;
    tcp = await startRows(
      [
        ['direct', async () => ({ port: targets.target, echoPort: targets.echo, protection: 'none', stop: async () => {} })],
        ['relay', () => startRelay(PEERS, targets)],
        ['ssh -L', async () => (ssh = await startSsh(tmp, targets))],
        ['ssh -D', async () => sshDynamic(ssh, targets)],
        ['stunnel', () => startStunnel(tmp, targets)],
        ['insel -L', async () => (insel = await startInsel(ROOT, tmp, targets))],
        ['insel -D', () => inselStarted(insel).forwardDynamic(targets)],
      ],
      handles,
      (path, h, note) => ({ path, protection: h?.protection ?? '-', note, port: h?.port ?? 0, echoPort: h?.echoPort ?? 0, socks: h?.socks, one: [], four: [], ms: [] }),
    );
    udp = await startRows(
      [
        ['direct', async () => ({ port: sink.port, protection: 'none', stop: async () => {} })],
        ['relay (raw UDP)', () => startUdpRelay(UDP_PEERS, sink.port)],
        ['insel -U', () => inselStarted(insel).forwardUdp(sink.port)],
        ['insel -D (UDP ASSOCIATE)', () => inselStarted(insel).forwardDynamic({ udp: sink.port })],
      ],
      handles,
      (path, h, note) => ({ path, protection: h?.protection ?? '-', note, port: h?.port ?? 0, socks: h?.socks, rounds: [] }),
    );
    hol = tcp.map(({ path, protection, note, port, echoPort, socks }) => ({ path, protection, note, port, echoPort, socks, ms: [], bulk: [] }));
    await measureAll(tcp, hol, udp, sink.port);
  } finally {
    for (const h of handles.reverse()) await h.stop();
    for (const p of peers) await p.stop();
    done();
  }
  const cpu = cpus();
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const [sshHol, inselHol] = ['ssh -L', 'insel -L'].map((p) => holMedian(hol.find((r) => r.path === p)));
  console.log(
    `TCP forwarding on loopback: ${MIB} MiB per bulk run (median of ${REPS}, paths taken in turn each round; 4 streams carry ${MIB / 4} MiB each), ` +
      `${CONNS} sequential new connections (connect + 1-byte echo), Node ${process.version}, ` +
      `${cpu.length} x ${cpu[0]?.model.trim() ?? 'cpu'}, ${new Date().toISOString()}\n`,
  );
  console.log(`Versions: ${await version(sshVersion)}; ${await version(stunnelVersion)}; node ${process.version}; insel ${pkg.version}\n`);
  console.log('Ratios divide this path by direct / by ssh -L: above 1 is faster for MB/s, slower for ms.\n');
  for (const l of throughputTable(tcp)) console.log(l);
  console.log(`\n${dynamicSummary(tcp)}`);
  console.log(
    `\nHead-of-line: ${ECHOES} one-byte echoes (in ${REPS} round(s), ${HOL_GAP_MS} ms apart; to a second target, so the target's own event loop is not in the way) on one connection while ${HOL_STREAMS} bulk uploads run on others of the same path. ` +
      `insel -L ${inselHol === undefined ? '-' : fmt(inselHol, 2)} ms median beside ssh -L ${sshHol === undefined ? '-' : fmt(sshHol, 2)} ms (target ≤ ${HOL_TARGET_MS} ms).\n`,
  );
  for (const l of holTable(hol)) console.log(l);
  console.log(
    `\nUDP forwarding: ${UDP_SIZE} B datagrams, ${UDP_SECS} s worth at each rate, paced by a separate load process; loss counted by sequence number at the sink ` +
      `(median of ${REPS}; SO_RCVBUF ${fmt(sinkRcvbuf / 1024)} KiB at the sink; through insel -D each datagram also carries its ${SOCKS_UDP_HEADER} B SOCKS UDP header from the load to the forwarder). ` +
      `A rate counts when loss < 0.1% there and at every lower rate. Target for insel -U ≥ 50,000/s.\n`,
  );
  for (const l of udpTable(udp)) console.log(l);
}
