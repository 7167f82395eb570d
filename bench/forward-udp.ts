// The forward bench's UDP row: 512 B datagrams at rising rates from a paced
// load process through a path to a counting sink (udp-peers.ts), per path
// the loss at each rate and the highest rate with under 0.1% loss. Paths:
// straight to the sink (direct: what load and sink manage by themselves), a
// plain Node UDP relay (raw UDP), `insel forward -U` through the gateway, and
// a UDP association of `insel forward -D` through the same gateway.
import { Proc, runPeer } from './forward-procs.js';
import type { PathHandle } from './forward-paths.js';
import { fmt, markdown, median, ratio } from './report.js';

export const UDP_RATES = (process.env.INSEL_BENCH_UDP_RATES ?? '10000,20000,50000,75000,100000').split(',').map(Number);
/** Seconds' worth of datagrams per rate. */
export const UDP_SECS = Number(process.env.INSEL_BENCH_UDP_SECS ?? 1);
export const UDP_SIZE = 512;
/** A rate counts as carried below this loss … */
const LOSS_OK = 0.001;
/** … and only if the load generator really sent at least this share of it. */
const SENT_OK = 0.95;
const START_MS = 20_000;

/** What udp-peers.js load reports per rate. */
export interface UdpStep {
  rate: number;
  sent: number;
  got: number;
  dups: number;
  secs: number;
  sendErrors: number;
}

/** Starts a process that prints "listening PORT rcvbuf N"; resolves with both. */
export async function startUdpPeer(name: string, script: string, args: string[]): Promise<{ proc: Proc; port: number; rcvbuf: number }> {
  const proc = new Proc(name, process.execPath, [script, ...args]);
  try {
    const m = await proc.waitLine(/^listening (\d+) rcvbuf (\d+)$/, START_MS);
    return { proc, port: Number(m[1]), rcvbuf: Number(m[2]) };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

export async function startUdpRelay(script: string, sink: number): Promise<PathHandle> {
  const { proc, port } = await startUdpPeer('udp relay', script, ['relay', `to=${sink}`]);
  return { port, protection: 'none (dgram, a connected socket per source)', stop: () => proc.stop() };
}

let runs = 0;

/** One sweep over UDP_RATES through `port`; `extra`: more load arguments (socks=P for a -D path). */
export async function udpRound(script: string, port: number, sink: number, extra: readonly string[] = []): Promise<UdpStep[]> {
  // Per rate: sending (up to 3× its time, plus 5 s), then up to ~3.5 s of draining; plus the warm-up.
  const ms = UDP_RATES.length * (UDP_SECS * 3000 + 10_000) + 15_000;
  const args = ['load', `port=${port}`, `sink=${sink}`, `run=${runs++}`, `rates=${UDP_RATES.join(',')}`, `secs=${UDP_SECS}`, `size=${UDP_SIZE}`, ...extra];
  return (await runPeer<{ steps: UdpStep[] }>(script, args, ms)).steps;
}

interface AtRate {
  loss: number;
  sentPerSec: number;
  dups: number;
  sendErrors: number;
}

/** Median over rounds, per rate. */
function atRates(rounds: readonly UdpStep[][]): AtRate[] {
  return UDP_RATES.map((_, i) => {
    const steps = rounds.map((r) => r[i]).filter((s): s is UdpStep => s !== undefined);
    return {
      loss: median(steps.map((s) => (s.sent > 0 ? (s.sent - s.got) / s.sent : 1))),
      sentPerSec: median(steps.map((s) => s.sent / s.secs)),
      dups: steps.reduce((a, s) => a + s.dups, 0),
      sendErrors: steps.reduce((a, s) => a + s.sendErrors, 0),
    };
  });
}

/** The highest rate that this and every lower rate carried (0 if none), and whether the load generator falling short, not loss, stopped it. */
function highest(at: readonly AtRate[]): { best: number; senderLimit: boolean } {
  let best = 0;
  for (const [i, a] of at.entries()) {
    const rate = UDP_RATES[i] as number;
    if (a.loss >= LOSS_OK) break;
    if (a.sentPerSec < rate * SENT_OK) return { best, senderLimit: true };
    best = rate;
  }
  return { best, senderLimit: false };
}

export interface UdpRow {
  path: string;
  protection: string;
  /** Why the row has no figures (not available, failed). */
  note?: string;
  port: number;
  /** the SOCKS5 proxy port of a -D path (PathHandle.socks) */
  socks?: number;
  rounds: UdpStep[][];
}

const BASELINE = 'relay (raw UDP)';

/** best / base, where a rate equal to `top` only says "at least top". */
function bounded(best: number, base: number, top: number): string {
  if (best === 0 || base === 0 || (best === top && base === top)) return '-';
  return `${best === top ? '≥ ' : base === top ? '≤ ' : ''}${ratio(best, base)}`;
}

export function udpTable(rows: readonly UdpRow[]): string[] {
  const summary = (r: UdpRow) => (r.note === undefined && r.rounds.length > 0 ? atRates(r.rounds) : undefined);
  const base = rows.find((r) => r.path === BASELINE);
  const baseAt = base && summary(base);
  const baseBest = baseAt && highest(baseAt).best;
  const top = UDP_RATES[UDP_RATES.length - 1] as number;
  const rate = (n: number) => (n === 0 ? `< ${fmt(UDP_RATES[0] as number)}` : n === top ? `≥ ${fmt(n)}` : fmt(n));
  const head = ['path', ...UDP_RATES.map((r) => `loss at ${fmt(r)}/s`), 'highest rate < 0.1% loss', 'vs raw UDP', 'protection'];
  const lines = rows.map((r) => {
    const at = summary(r);
    if (at === undefined) return [r.path, ...UDP_RATES.map(() => '-'), '-', '-', r.note ?? r.protection];
    const cells = at.map((a, i) => {
      const extra = [
        a.sentPerSec < (UDP_RATES[i] as number) * SENT_OK ? `sent ${fmt(a.sentPerSec)}/s` : '',
        a.dups > 0 ? `${a.dups} dup` : '',
        a.sendErrors > 0 ? `${a.sendErrors} send err` : '',
      ].filter((x) => x !== '');
      return `${fmt(a.loss * 100, 2)}%${extra.length ? ` (${extra.join(', ')})` : ''}`;
    });
    const { best, senderLimit } = highest(at);
    return [r.path, ...cells, `${rate(best)}${senderLimit ? ' (load generator limit)' : ''}`, r.path === BASELINE ? '1.00' : bounded(best, baseBest ?? 0, top), r.note ?? r.protection];
  });
  return markdown(head, lines);
}
