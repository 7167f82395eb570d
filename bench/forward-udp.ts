// `npm run bench -- forward-udp`: 512 B datagrams at rising rates through an
// `insel forward -U` (client end, gateway, target echo: separate processes)
// and, in the same run, through a plain Node UDP relay (no crypto): the
// highest rate each carries with < 0.1% loss, counted round trip (load →
// path → echo → path → load).
//
// INSEL_BENCH_RATES (default 10000,20000,30000,50000,70000,100000) datagrams/s,
// INSEL_BENCH_RATE_MS (default 1000) per rate.
import { fileURLToPath } from 'node:url';
import { makeTestPki } from '../src/pki/testing.js';
import { Proc, killAllSync } from './forward-procs.js';

const RATES = (process.env.INSEL_BENCH_RATES ?? '10000,20000,30000,50000,70000,100000').split(',').map(Number);
const PEERS = fileURLToPath(new URL('./forward-udp-peers.js', import.meta.url));
const START_MS = 20_000;
const MAX_LOSS = 0.001;

async function start(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: Proc; port: number }> {
  const proc = new Proc(name, process.execPath, [PEERS, ...args], { ...process.env, ...env });
  const m = await proc.waitLine(/^port (\d+)/, START_MS);
  return { proc, port: Number(m[1]) };
}

/** Loss per rate through the path listening on `port`. */
async function measure(port: number): Promise<Map<number, number>> {
  const load = new Proc('load', process.execPath, [PEERS, 'load', String(port), RATES.join(',')]);
  await load.waitLine(/^done/, 60_000 + RATES.length * 10_000);
  const loss = new Map<number, number>();
  for (const line of load.lastWords(RATES.length + 1).split(' | ')) {
    const m = /^rate (\d+) sent (\d+) echoed (\d+)/.exec(line);
    if (m) loss.set(Number(m[1]), 1 - Number(m[3]) / Number(m[2]));
  }
  await load.stop();
  return loss;
}

export async function forwardUdp(): Promise<void> {
  process.once('exit', killAllSync);
  const pki = await makeTestPki();
  const procs: Proc[] = [];
  try {
    const echo = await start('echo', ['echo']);
    procs.push(echo.proc);
    const relay = await start('relay', ['relay', String(echo.port)]);
    procs.push(relay.proc);
    const gw = await start('gateway', ['gateway'], { INSEL_BENCH_ID: JSON.stringify(pki.profile('srv')) });
    procs.push(gw.proc);
    const fwd = await start('forward', ['forward', String(gw.port), String(echo.port)], { INSEL_BENCH_ID: JSON.stringify(pki.profile('alice')) });
    procs.push(fwd.proc);
    const plain = await measure(relay.port);
    const insel = await measure(fwd.port);
    const best = (m: Map<number, number>) => Math.max(0, ...[...m].filter(([, l]) => l < MAX_LOSS).map(([r]) => r));
    console.log(`UDP forwarding, 512 B datagrams round trip, Node ${process.version}, ${new Date().toISOString()}\n`);
    console.log('| datagrams/s | plain relay loss | insel -U loss |');
    console.log('|---|---|---|');
    const pct = (x: number | undefined) => (x === undefined ? '-' : `${(100 * x).toFixed(2)} %`);
    for (const r of RATES) console.log(`| ${r.toLocaleString('en-US')} | ${pct(plain.get(r))} | ${pct(insel.get(r))} |`);
    console.log(`| highest with < 0.1 % loss | ${best(plain).toLocaleString('en-US')} | ${best(insel).toLocaleString('en-US')} |`);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    pki.cleanup();
  }
}
