// `npm run bench -- forward`: TCP port forwarding on loopback, five ways, in
// one run: straight to the target (direct), through a plain Node relay, ssh -L
// through a private sshd, a stunnel client/server pair, and insel forward
// through an insel gateway (one insel/1 mux session over TLS for all connections).
//
//   load (bench/forward-peers.js bulk|conns) -> path -> target (forward-peers.js target)
//
// Per path: MB/s of one stream and of four parallel streams (the target
// counts every byte and answers when it has them all), and the time to open a
// new forwarded connection through the already-open session: connect plus a
// one-byte echo, sequentially. Load, target and each relay are separate
// processes, so no Node relay shares its event loop with the load. All paths
// are started first, then measured in turn, round by round (ratios hold up
// on a busy machine better than path after path).
//
// INSEL_BENCH_MIB (default 256) bytes per bulk run (split over the 4 streams),
// INSEL_BENCH_REPS (default 3) bulk runs per cell (median reported),
// INSEL_BENCH_CONNS (default 200) connections for the connect test.
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Proc, killAllSync, run } from './forward-procs.js';
import { sshVersion, startInsel, startRelay, startSsh, startStunnel, stunnelVersion, type PathHandle } from './forward-paths.js';

const MIB = Number(process.env.INSEL_BENCH_MIB ?? 256);
const REPS = Number(process.env.INSEL_BENCH_REPS ?? 3);
const CONNS = Number(process.env.INSEL_BENCH_CONNS ?? 200);
const WARM_MIB = 16;
const WARM_CONNS = 20;
const BULK_TIMEOUT_MS = 180_000;
const CONNS_TIMEOUT_MS = 120_000;

const PEERS = fileURLToPath(new URL('./forward-peers.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Measured {
  one: number;
  four: number;
  median: number;
  p90: number;
}

interface Row {
  path: string;
  protection: string;
  m?: Measured;
  note?: string;
}

/** Runs one load generator; its result is the JSON line it prints. */
async function load<T>(args: string[], ms: number): Promise<T> {
  const r = await run(process.execPath, [PEERS, ...args], ms + 5000, { ...process.env, FORWARD_PEERS_TIMEOUT_MS: String(ms) });
  if (r.code !== 0) throw new Error(`load ${args[0]}: ${r.stderr.trim().slice(-300) || `exit ${r.code}`}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
}

async function bulkMBps(port: number, streams: number, mib: number): Promise<number> {
  const bytes = Math.floor((mib * 1024 * 1024) / streams);
  const r = await load<{ secs: number; bytes: number }>(['bulk', `port=${port}`, `streams=${streams}`, `bytes=${bytes}`], BULK_TIMEOUT_MS);
  return r.bytes / r.secs / 1e6;
}

const sorted = (xs: number[]) => xs.slice().sort((a, b) => a - b);
function median(xs: number[]): number {
  const s = sorted(xs);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
const p90 = (xs: number[]) => sorted(xs)[Math.max(0, Math.ceil(xs.length * 0.9) - 1)] as number;

interface Live {
  row: Row;
  port: number;
  one: number[];
  four: number[];
  ms: number[];
}

/**
 * Round-robin over the paths, one run each per round, so a busy neighbour
 * on the machine slows every path alike instead of one row. A path that
 * fails is marked and left out of later rounds.
 */
async function measureAll(live: Live[]): Promise<void> {
  const step = async (what: string, f: (l: Live) => Promise<void>) => {
    for (const l of live) {
      if (l.row.note !== undefined) continue;
      try {
        await f(l);
      } catch (err) {
        if (l.row.path === 'direct') throw err;
        l.row.note = `failed (${what}): ${why(err)}`;
        process.stderr.write(`${l.row.path}: ${l.row.note}\n`);
      }
    }
  };
  await step('warm-up', async (l) => {
    await bulkMBps(l.port, 1, WARM_MIB);
    await load(['conns', `port=${l.port}`, `count=${WARM_CONNS}`], CONNS_TIMEOUT_MS);
  });
  const perRound = (i: number) => Math.floor((CONNS * (i + 1)) / REPS) - Math.floor((CONNS * i) / REPS);
  for (let i = 0; i < REPS; i++) {
    await step('1 stream', async (l) => void l.one.push(await bulkMBps(l.port, 1, MIB)));
    await step('4 streams', async (l) => void l.four.push(await bulkMBps(l.port, 4, MIB)));
    await step('new connections', async (l) => void l.ms.push(...(await load<{ ms: number[] }>(['conns', `port=${l.port}`, `count=${perRound(i)}`], CONNS_TIMEOUT_MS)).ms));
    process.stderr.write(`round ${i + 1}/${REPS} done\n`);
  }
  for (const l of live) {
    if (l.row.note === undefined) l.row.m = { one: median(l.one), four: median(l.four), median: median(l.ms), p90: p90(l.ms) };
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const why = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').replace(/\|/g, '/').slice(0, 300);

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined ? '-' : fmt(a / b, 2);
}

function table(rows: Row[]): string[] {
  const base = rows.find((r) => r.path === 'direct')?.m;
  const ssh = rows.find((r) => r.path === 'ssh -L')?.m;
  const pair = (m: Measured | undefined, k: keyof Measured) => `${ratio(m?.[k], base?.[k])} / ${ratio(m?.[k], ssh?.[k])}`;
  const head = ['path', '1 stream MB/s', '4 streams MB/s', 'new conn median ms', 'new conn p90 ms', '1 stream vs direct / ssh', '4 streams vs direct / ssh', 'conn median vs direct / ssh', 'protection'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 || i === head.length - 1 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const m = r.m;
    const cells = m
      ? [fmt(m.one), fmt(m.four), fmt(m.median, 2), fmt(m.p90, 2), pair(m, 'one'), pair(m, 'four'), pair(m, 'median')]
      : ['-', '-', '-', '-', '-', '-', '-'];
    lines.push(`| ${[r.path, ...cells, r.note ?? r.protection].join(' | ')} |`);
  }
  return lines;
}

async function version(get: () => Promise<string>): Promise<string> {
  try {
    return await get();
  } catch (err) {
    return `not available (${why(err)})`;
  }
}

export async function forward(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'insel-bench-forward-'));
  const cleanupSync = () => {
    killAllSync();
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on('exit', cleanupSync);
  const onSignal = () => process.exit(130);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rows: Row[] = [];
  const live: Live[] = [];
  const handles: PathHandle[] = [];
  let target: Proc | undefined;
  try {
    target = new Proc('target', process.execPath, [PEERS, 'target']);
    const targetPort = Number((await target.waitLine(/^listening (\d+)$/, 20_000))[1]);
    const paths: [string, () => Promise<PathHandle>][] = [
      ['direct', async () => ({ port: targetPort, protection: 'none', stop: async () => {} })],
      ['relay', () => startRelay(PEERS, targetPort)],
      ['ssh -L', () => startSsh(tmp, targetPort)],
      ['stunnel', () => startStunnel(tmp, targetPort)],
      ['insel', () => startInsel(ROOT, tmp, targetPort)],
    ];
    for (const [name, start] of paths) {
      try {
        const h = await start();
        handles.push(h);
        const row: Row = { path: name, protection: h.protection };
        rows.push(row);
        live.push({ row, port: h.port, one: [], four: [], ms: [] });
        process.stderr.write(`${name}: ready on port ${h.port} (${h.protection})\n`);
      } catch (err) {
        process.stderr.write(`${name}: not available: ${why(err)}\n`);
        rows.push({ path: name, protection: '-', note: `not available: ${why(err)}` });
      }
    }
    await measureAll(live);
  } finally {
    for (const h of handles.reverse()) await h.stop();
    await target?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', cleanupSync);
    cleanupSync();
  }
  const cpu = cpus();
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  console.log(
    `TCP forwarding on loopback: ${MIB} MiB per bulk run (median of ${REPS}, paths taken in turn each round; 4 streams carry ${MIB / 4} MiB each), ` +
      `${CONNS} sequential new connections (connect + 1-byte echo), Node ${process.version}, ` +
      `${cpu.length} x ${cpu[0]?.model.trim() ?? 'cpu'}, ${new Date().toISOString()}\n`,
  );
  console.log(`Versions: ${await version(sshVersion)}; ${await version(stunnelVersion)}; node ${process.version}; insel ${pkg.version}\n`);
  console.log('Ratios divide this path by direct / by ssh -L: above 1 is faster for MB/s, slower for ms.\n');
  for (const l of table(rows)) console.log(l);
}
