// Head-of-line round of the forward bench: while one process (flood) runs two
// bulk uploads through a path to the target, another (echoes) times one-byte
// round trips on a third connection of the same path (same insel session,
// same ssh connection) to a separate echo target. Load, targets and relays
// are separate processes, so neither the bulk writer nor the bulk sink
// delays the echo's event loops: what is measured is the path. The flood
// also says what bulk moved meanwhile, so a path that answers fast by
// starving bulk shows it.
import { Proc, runPeer } from './forward-procs.js';

export const HOL_STREAMS = 2;
/** The flood's own time limit: far beyond a round (echoes × (gap + slowest round trip)). */
const FLOOD_MAX_S = 120;
const FLOWING_MS = 20_000;
const PROGRESS_MS = 5_000;
const ECHOES_TIMEOUT_MS = 100_000;
/** Between echoes, so they sample the bulk transfer at different moments. */
export const HOL_GAP_MS = 2;
const PROGRESS = /^bytes (\d+) (\S+)$/;

export interface HolRound {
  /** Echo round trips, ms. */
  ms: number[];
  /** What the bulk transfers moved while the echoes ran, MB/s. */
  bulkMBps: number;
}

/** `extra`: more arguments for both load processes (socks=P for a -D path). */
export async function holRound(peers: string, port: number, echoPort: number, echoes: number, extra: readonly string[] = []): Promise<HolRound> {
  const flood = new Proc('bulk load', process.execPath, [peers, 'flood', `port=${port}`, `streams=${HOL_STREAMS}`, `secs=${FLOOD_MAX_S}`, ...extra], {
    ...process.env,
    BENCH_PEER_TIMEOUT_MS: String((FLOOD_MAX_S + 30) * 1000),
  });
  try {
    await flood.waitLine(/^flowing$/, FLOWING_MS);
    const before = await flood.waitLine(PROGRESS, PROGRESS_MS);
    const r = await runPeer<{ ms: number[] }>(peers, ['echoes', `port=${echoPort}`, `count=${echoes}`, `gap=${HOL_GAP_MS}`, ...extra], ECHOES_TIMEOUT_MS);
    // Still flowing when the echoes were done: the next progress line comes from a live flood.
    const after = await flood.waitLine(PROGRESS, PROGRESS_MS);
    const bytes = Number(after[1]) - Number(before[1]);
    const ms = Number(after[2]) - Number(before[2]);
    return { ms: r.ms, bulkMBps: bytes / ms / 1000 };
  } finally {
    await flood.stop();
  }
}
