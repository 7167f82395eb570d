// iperf3 through a tunnel: a one-off server (`iperf3 -s -1`) in the server
// namespace per run, the client in the client namespace dialling the
// tunnel's server address; results from the client's JSON (-J), which
// carries the receiver's figures too. Around each run, the CPU time of the
// tunnel's own processes (utime + stime from /proc/PID/stat).
import { readFileSync } from 'node:fs';
import { ensureTool } from './forward-procs.js';
import type { Lab } from './tunnel-lab.js';

const PORT = 5201;
/** Bytes of UDP payload in the small-packet runs. */
export const SMALL = 64;
/** The loss a rate may cause and still count as carried, in the offered-rate search. */
export const MAX_LOSS = 0.05;
/** Runs of the offered-rate search after the full-load run, SEARCH_SECS each. */
export const SEARCH_STEPS = 5;
export const SEARCH_SECS = 3;
/** Linux's USER_HZ: /proc/PID/stat counts CPU time in these ticks. */
const TICKS_PER_S = 100;
const START_MS = 10_000;
/** A tunnel that went down fails its run at once, not after the whole run's time. */
const CONNECT_MS = 5000;

interface Sum {
  seconds: number;
  bytes: number;
  bits_per_second: number;
  packets?: number;
}

interface IperfJson {
  error?: string;
  end?: { sum_sent?: Sum; sum_received?: Sum };
}

async function iperf(lab: Lab, addr: string, secs: number, args: string[]): Promise<{ sent: Sum; received: Sum }> {
  const bin = await ensureTool(['iperf3'], 'iperf3');
  const server = lab.server.spawn('iperf3 server', bin, ['-s', '-1', '--forceflush', '-p', String(PORT)]);
  try {
    await server.waitLine(/Server listening on/, START_MS);
    const r = await lab.client.exec(bin, ['-c', addr, '-p', String(PORT), '--connect-timeout', String(CONNECT_MS), '-J', '-t', String(secs), ...args], (secs + 30) * 1000);
    let j: IperfJson;
    try {
      j = JSON.parse(r.stdout) as IperfJson;
    } catch {
      throw new Error(`iperf3 -c ${addr} ${args.join(' ')}: exit ${r.code}, no JSON: ${(r.stderr || r.stdout).trim().slice(-300)}`);
    }
    if (j.error !== undefined) throw new Error(`iperf3 -c ${addr} ${args.join(' ')}: ${j.error}`);
    const { sum_sent: sent, sum_received: received } = j.end ?? {};
    if (sent === undefined || received === undefined) throw new Error(`iperf3 -c ${addr} ${args.join(' ')}: no sums in its JSON`);
    return { sent, received };
  } finally {
    await server.stop();
  }
}

/** TCP goodput in Gbit/s over `streams` parallel streams; the first second (slow start) is omitted. */
export async function tcpGbps(lab: Lab, addr: string, secs: number, streams: number): Promise<number> {
  const r = await iperf(lab, addr, secs, ['-P', String(streams), '-O', '1']);
  return r.received.bits_per_second / 1e9;
}

export interface UdpResult {
  /** Datagrams/s the sender got out. */
  sentPps: number;
  /** Datagrams/s that reached the receiver. */
  recvPps: number;
  /** 1 - received/sent. */
  loss: number;
}

/** SMALL-byte UDP datagrams offered at `pps` (0 = as fast as iperf3 can send). */
export async function udpSmall(lab: Lab, addr: string, secs: number, pps: number): Promise<UdpResult> {
  const rate = pps === 0 ? '0' : String(Math.round(pps * SMALL * 8));
  const r = await iperf(lab, addr, secs, ['-u', '-l', String(SMALL), '-b', rate]);
  const sent = r.sent.packets ?? r.sent.bytes / SMALL;
  const received = r.received.bytes / SMALL;
  return { sentPps: sent / r.sent.seconds, recvPps: received / r.received.seconds, loss: sent > 0 ? Math.max(0, 1 - received / sent) : 1 };
}

/**
 * The highest SMALL-byte rate offered with < MAX_LOSS loss: bisection between
 * 0 and the full-load send rate, starting at what got through at full load;
 * the figure is the rate iperf3 really sent in the best passing run.
 */
export async function maxSmallRate(lab: Lab, addr: string, full: UdpResult): Promise<number> {
  if (full.loss < MAX_LOSS) return full.sentPps;
  let lo = 0;
  let hi = full.sentPps;
  let best = 0;
  let next = Math.min(full.recvPps, hi * 0.9);
  for (let i = 0; i < SEARCH_STEPS; i++) {
    const r = await udpSmall(lab, addr, SEARCH_SECS, next);
    if (r.loss < MAX_LOSS) {
      lo = next;
      best = Math.max(best, r.sentPps);
    } else {
      hi = next;
    }
    next = (lo + hi) / 2;
  }
  return best;
}

/** CPU seconds (user + system) `pid` has used so far; 0 once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** Resident memory of `pid` in bytes (VmRSS), or undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `f` and reports the CPU `pids` used meanwhile, in % of one core (summed over them). */
export async function withCpu<T>(pids: readonly number[], f: () => Promise<T>): Promise<{ value: T; cpuPct?: number }> {
  const before = pids.map(cpuSeconds);
  const t0 = performance.now();
  const value = await f();
  const secs = (performance.now() - t0) / 1000;
  if (pids.length === 0) return { value };
  const used = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - (before[i] as number), 0);
  return { value, cpuPct: (100 * used) / secs };
}
