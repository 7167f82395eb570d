// `npm run bench -- org`: the organization on loopback, in one run: HQ and
// the sites main and branch as real `insel` processes (src/org/e2e's
// loopback org), alice logged in at main, a bench target
// (forward-peers.js target) published by branch as bench@branch.
//
//   direct             load -> target
//   insel forward -L   load -> insel forward (alice) -> insel gateway (org CA server cert) -> target
//   insel open         load -> insel open bench@branch (SAux-C) -> site main -> site branch (SAux-S) -> target
//
// (the forward baseline: org-forward.ts). Per path: the time from starting
// the client (`insel open`, `insel forward`; for direct the connect) to the
// first byte echoed back, a fresh process each time; the time to open a new connection through the running client
// (connect + 1-byte echo, sequentially); MB/s of one bulk stream. Paths are
// measured in turn, round by round. Then enrollment codes redeemed per second
// by the registry on SQLite and on PostgreSQL (org-codes.ts).
//
// INSEL_BENCH_MIB (default 128) bytes per bulk run, INSEL_BENCH_REPS (default 3)
// rounds, INSEL_BENCH_CONNS (default 200) new connections, INSEL_BENCH_STARTS
// (default 5) client starts, INSEL_BENCH_CODES (default 2000) codes with
// INSEL_BENCH_CODE_CONCURRENCY (default 16) redemptions in flight.
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { openedAddress } from '../src/cli/quickstart-org.js';
import { GROUP, LoopbackOrg } from '../src/org/e2e/org-loopback.js';
import { codesRows } from './org-codes.js';
import { startForwardBaseline, type ClientHandle } from './org-forward.js';
import { inTurn } from './forward.js';
import { Proc, benchRun, echoOnce, runPeer, waitEcho } from './forward-procs.js';
import { fmt, markdown, median, p90, ratio, why } from './report.js';

const MIB = Number(process.env.INSEL_BENCH_MIB ?? 128);
const REPS = Number(process.env.INSEL_BENCH_REPS ?? 3);
const CONNS = Number(process.env.INSEL_BENCH_CONNS ?? 200);
const STARTS = Number(process.env.INSEL_BENCH_STARTS ?? 5);
const CODES = Number(process.env.INSEL_BENCH_CODES ?? 2000);
const CODE_CONCURRENCY = Number(process.env.INSEL_BENCH_CODE_CONCURRENCY ?? 16);
const START_MS = 20_000;
const PEERS = fileURLToPath(new URL('./forward-peers.js', import.meta.url));

interface Row {
  path: string;
  what: string;
  note?: string;
  /** the running client's local port */
  port: number;
  /** starts a fresh client and resolves its local port (and a stop) */
  fresh: () => Promise<ClientHandle>;
  first: number[];
  conn: number[];
  mbps: number[];
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function bulkMBps(port: number): Promise<number> {
  const r = await runPeer<{ secs: number; bytes: number }>(PEERS, ['bulk', `port=${port}`, 'streams=1', `bytes=${MIB * 1024 * 1024}`], 180_000);
  return r.bytes / r.secs / 1e6;
}

/** Client start to first echoed byte, with a fresh client. */
async function firstByte(r: Row): Promise<number> {
  const t0 = process.hrtime.bigint();
  const c = await r.fresh();
  try {
    await echoOnce(c.port, START_MS);
    return ms(t0);
  } finally {
    await c.stop();
  }
}

function table(rows: Row[]): string[] {
  const base = rows.find((r) => r.path === 'direct');
  const fwd = rows.find((r) => r.path === 'insel forward -L');
  const mbps = (r: Row | undefined) => (r === undefined || r.mbps.length === 0 ? undefined : median(r.mbps));
  const head = ['path', 'start to first byte ms', 'new conn median ms', 'new conn p90 ms', '1 stream MB/s', 'MB/s vs direct / forward -L', 'route'];
  return markdown(
    head,
    rows.map((r) => {
      if (r.note !== undefined && r.conn.length === 0) return [r.path, '-', '-', '-', '-', '-', r.note];
      const first = r.first.length === 0 ? '-' : fmt(median(r.first), 1);
      const conn = r.conn.length === 0 ? ['-', '-'] : [fmt(median(r.conn), 2), fmt(p90(r.conn), 2)];
      const m = mbps(r);
      return [r.path, first, ...conn, m === undefined ? '-' : fmt(m), `${ratio(m, mbps(base))} / ${ratio(m, mbps(fwd))}`, r.note ?? r.what];
    }),
  );
}

export async function org(): Promise<void> {
  const { done } = benchRun('org');
  const rows: Row[] = [];
  const running: { stop: () => Promise<unknown> }[] = [];
  let lab: LoopbackOrg | undefined;
  try {
    const target = new Proc('target', process.execPath, [PEERS, 'target']);
    running.push(target);
    const t = Number((await target.waitLine(/^listening (\d+)$/, START_MS))[1]);
    process.stderr.write('starting HQ, sites main and branch, enrolling alice…\n');
    lab = await LoopbackOrg.create({ part: 'bench', extraServices: [{ name: 'bench', proto: 'tcp', host: '127.0.0.1', port: t, groups: [GROUP] }] });
    const alice = await lab.user('alice');
    await lab.org.waitServices(alice, ['bench@branch']);
    const baseline = await startForwardBaseline(lab.org, alice, lab.dir, t);
    running.push(baseline.gateway);
    const open = async (): Promise<ClientHandle> => {
      const p = lab!.startAs(alice, ['open', 'bench@branch']);
      try {
        return { port: (await openedAddress(p, START_MS)).port, stop: () => p.stop('SIGINT') };
      } catch (err) {
        await p.stop();
        throw err;
      }
    };
    const paths: [string, string, () => Promise<ClientHandle>][] = [
      ['direct', 'straight to the target (TCP connect)', async () => ({ port: t, stop: async () => undefined })],
      ['insel forward -L', 'one gateway: alice -> insel gateway (org CA) -> target (mTLS, insel/1)', () => baseline.forward()],
      ['insel open', 'the org relay: alice -> site main -> site branch -> target (mTLS both hops)', open],
    ];
    for (const [path, what, fresh] of paths) {
      const row: Row = { path, what, port: 0, fresh, first: [], conn: [], mbps: [] };
      rows.push(row);
      try {
        const c = await fresh();
        running.push(c);
        row.port = c.port;
        await waitEcho(c.port, START_MS);
      } catch (err) {
        row.note = `not available: ${why(err)}`;
        process.stderr.write(`${path}: ${row.note}\n`);
      }
    }
    for (let i = 0; i < REPS; i++) {
      const share = Math.floor((CONNS * (i + 1)) / REPS) - Math.floor((CONNS * i) / REPS);
      const starts = Math.floor((STARTS * (i + 1)) / REPS) - Math.floor((STARTS * i) / REPS);
      await inTurn(rows, 'start to first byte', async (r) => {
        for (let k = 0; k < starts; k++) r.first.push(await firstByte(r));
      });
      await inTurn(rows, 'new connections', async (r) => void r.conn.push(...(await runPeer<{ ms: number[] }>(PEERS, ['conns', `port=${r.port}`, `count=${share}`], 120_000)).ms));
      await inTurn(rows, '1 stream', async (r) => void r.mbps.push(await bulkMBps(r.port)));
      process.stderr.write(`round ${i + 1}/${REPS} done\n`);
    }
  } finally {
    for (const r of running.reverse()) await r.stop();
    await lab?.close();
    done();
  }
  process.stderr.write('redeeming enrollment codes…\n');
  const codes = await codesRows(CODES, CODE_CONCURRENCY);
  const cpu = cpus();
  console.log(
    `The organization on loopback: HQ and two site gateways as processes, ${MIB} MiB per bulk run (median of ${REPS} rounds, paths in turn), ` +
      `${CONNS} sequential new connections (connect + 1-byte echo), ${STARTS} client starts, Node ${process.version}, ${cpu.length} x ${cpu[0]?.model.trim() ?? 'cpu'}, ${new Date().toISOString()}\n`,
  );
  console.log('Start to first byte: from spawning the client (insel forward, insel open; a Node process) to the first byte echoed through it; direct: connect + echo.\n');
  for (const l of table(rows)) console.log(l);
  console.log(`\nEnrollment codes redeemed by the registry: ${CODES} codes, ${CODE_CONCURRENCY} redemptions in flight (the database's part of an enrollment; TLS and the CSR are not in it).\n`);
  for (const l of markdown(['database', 'codes redeemed/s', 'note'], codes.map((c) => [c.database, c.perSecond === undefined ? '-' : fmt(c.perSecond), c.note ?? '']))) console.log(l);
}
