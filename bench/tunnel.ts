// `npm run bench -- tunnel [--seconds N] [--rounds N] [--clients N] [--peers a,b,…]`:
// the IP tunnel against wireguard-go and OpenVPN 2.6, in one run (issue 14 §10).
//
// Needs root (namespaces, TUN) and `npm run build`. Two network namespaces
// joined by one veth pair (tunnel-lab.ts); every tunnel runs over that same
// veth at once, each with its own port and subnet, same inner MTU (1420):
//   veth            no tunnel: the ceiling of this machine and of iperf3;
//   wireguard-go    Debian's wireguard-go + wg, ChaCha20-Poly1305;
//   OpenVPN         2.6, UDP, TLS server/client with certificates (a throwaway
//                   openssl CA), data-ciphers AES-256-GCM, no compression, DCO off;
//   insel (static)  `insel tunnel --config` with seed 004's static-key files;
//   insel (CA)      `insel tunnel --config` with `server`/`client` and insel PKI certificates.
// Missing programs are installed with apt-get when run as root (wireguard-go,
// wireguard-tools, openvpn, iperf3); a tunnel that cannot start, or carry a
// ping within 10 s, is a row "not available: <why>".
//
// Figures (iperf3 server in the server namespace, client in the client one,
// dialling the server end's tunnel address; tunnels taken in turn for each
// test, round by round, medians over --rounds):
//   TCP 1 stream, TCP 4 streams (-P 4): receiver goodput, --seconds each (default 10), first second omitted;
//   64 B at full load: `iperf3 -u -l 64 -b 0`: datagrams/s received, and the loss (1 - received/sent);
//   64 B max offered: the highest offered rate with < 5% loss, by bisection over 3 s runs (tunnel-iperf.ts);
//   CPU %: user + system time of the tunnel's own processes (both ends) during the run, in % of one core
//          (the kernel's softirq work is not in it; veth has no process);
//   server RSS: the tunnel server process's VmRSS at the end, with its one client;
//   server RSS @ N clients: insel's CA-mode server with up to --clients (default 100) clients (tunnel-clients.ts).
// The second table puts insel's figures over wireguard-go's and OpenVPN's next to
// issue 14 §10's targets (≥ 1.5× TCP, ≥ 2× 64 B, < 64 MiB @ 100 clients).
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsLab } from '../src/hostnet/netns-testing.js';
import { benchRun, ensureTool, run, which } from './forward-procs.js';
import { why } from './report.js';
import { serverMemory, type MemoryRow } from './tunnel-clients.js';
import { startInselCa, startInselStatic } from './tunnel-insel.js';
import { maxSmallRate, rssBytes, SEARCH_SECS, SEARCH_STEPS, SMALL, tcpGbps, udpSmall, withCpu } from './tunnel-iperf.js';
import { createLab, TAG, TUN_MTU, type Lab, type MultiClientHandle, type TunnelHandle } from './tunnel-lab.js';
import { openvpnVersion, removeWireguardSockets, startOpenvpn, startVeth, startWireguard, wireguardVersion } from './tunnel-peers.js';
import { figuresTable, targetsTable, type Row } from './tunnel-report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Options {
  seconds: number;
  rounds: number;
  clients: number;
  peers: string[];
}

const PEERS: [key: string, name: string, start: (lab: Lab) => Promise<TunnelHandle>][] = [
  ['veth', 'veth (no tunnel)', startVeth],
  ['wireguard-go', 'wireguard-go', startWireguard],
  ['openvpn', 'OpenVPN', startOpenvpn],
  ['insel-static', 'insel (static key)', startInselStatic],
  ['insel-ca', 'insel (CA)', startInselCa],
];

function options(argv: readonly string[]): Options {
  const o: Options = { seconds: 10, rounds: 1, clients: 100, peers: PEERS.map(([k]) => k) };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    const n = Number(value);
    if (flag === '--peers') o.peers = value.split(',');
    else if ((flag === '--seconds' || flag === '--rounds' || flag === '--clients') && Number.isInteger(n) && n >= (flag === '--clients' ? 0 : 1)) o[flag.slice(2) as 'seconds' | 'rounds' | 'clients'] = n;
    else throw new Error(`tunnel bench: bad option ${flag} ${value}; options: --seconds N, --rounds N, --clients N (0 = no memory row), --peers ${PEERS.map(([k]) => k).join(',')}`);
  }
  const unknown = o.peers.find((p) => !PEERS.some(([k]) => k === p));
  if (unknown !== undefined) throw new Error(`tunnel bench: unknown peer ${unknown}; one of ${PEERS.map(([k]) => k).join(', ')}`);
  return o;
}

/** The programs the bench runs, by Debian package; as root it installs them when missing. */
const TOOLS = [
  ['wireguard-go', 'wireguard-go'],
  ['wg', 'wireguard-tools'],
  ['openvpn', 'openvpn'],
  ['iperf3', 'iperf3'],
  ['ping', 'iputils-ping'],
  ['openssl', 'openssl'],
];

/** The servers whose RSS with many clients is measured: insel's CA mode (the target) and OpenVPN's for reference. */
const MEMORY = [
  { key: 'insel-ca', name: 'ins', block: 0 },
  { key: 'openvpn', name: 'ovpn', block: 1 },
];

const takesClients = (h: TunnelHandle): h is MultiClientHandle => 'spawnClient' in h;

const pidsOf = (h: TunnelHandle) => [h.serverPid, h.clientPid].filter((p): p is number => p !== undefined);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `f` on each available row in turn; a row that fails is marked and skipped later; veth failing means the bench is broken. */
async function inTurn(rows: Row[], handles: Map<Row, TunnelHandle>, what: string, f: (r: Row, h: TunnelHandle) => Promise<void>): Promise<void> {
  for (const r of rows) {
    const h = handles.get(r);
    if (r.note !== undefined || h === undefined) continue;
    try {
      const gone = pidsOf(h).find((pid) => !alive(pid));
      if (gone !== undefined) throw new Error(`its process ${gone} has exited`);
      await f(r, h);
      process.stderr.write(`${r.peer}: ${what} done\n`);
    } catch (err) {
      if (r.key === 'veth') throw err;
      r.note = `failed (${what}): ${why(err)}`;
      process.stderr.write(`${r.peer}: ${r.note}\n`);
    }
  }
}

async function measure(lab: Lab, o: Options, rows: Row[], handles: Map<Row, TunnelHandle>): Promise<void> {
  for (let i = 0; i < o.rounds; i++) {
    await inTurn(rows, handles, 'TCP 1 stream', async (r, h) => {
      const m = await withCpu(pidsOf(h), () => tcpGbps(lab, h.addr, o.seconds, 1));
      r.tcp1.push(m.value);
      if (m.cpuPct !== undefined) r.cpuTcp.push(m.cpuPct);
    });
    await inTurn(rows, handles, 'TCP 4 streams', async (r, h) => void r.tcp4.push(await tcpGbps(lab, h.addr, o.seconds, 4)));
    await inTurn(rows, handles, `${SMALL} B UDP`, async (r, h) => {
      const m = await withCpu(pidsOf(h), () => udpSmall(lab, h.addr, o.seconds, 0));
      r.full.push(m.value);
      if (m.cpuPct !== undefined) r.cpuSmall.push(m.cpuPct);
      r.max.push(await maxSmallRate(lab, h.addr, m.value));
    });
    process.stderr.write(`round ${i + 1}/${o.rounds} done\n`);
  }
}

async function versions(): Promise<string> {
  const v = async (get: () => Promise<string>) => get().catch((err: unknown) => `not available (${why(err)})`);
  const iperf = async () => (await run(await ensureTool(['iperf3'], 'iperf3'), ['--version'], 5000)).stdout.split('\n')[0]?.trim() ?? 'iperf3';
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  return `${await v(wireguardVersion)}; ${await v(openvpnVersion)}; ${await v(iperf)}; insel ${pkg.version}; node ${process.version}; Linux ${release()}`;
}

export async function tunnel(argv: readonly string[] = []): Promise<void> {
  const o = options(argv);
  if (process.getuid?.() !== 0) {
    const missing = TOOLS.filter(([bin]) => which(bin) === undefined).map(([, pkg]) => pkg);
    const install = missing.length > 0 ? `; missing here: apt-get install -y ${[...new Set(missing)].join(' ')}` : '';
    throw new Error(`the tunnel bench needs root (network namespaces, TUN devices)${install}`);
  }
  const load = loadavg()[0] ?? 0;
  if (load > 0.5) process.stderr.write(`note: load average ${load.toFixed(2)}: other work on this machine will lower every row\n`);
  const netns = await NetnsLab.create('bench');
  const { tmp, done } = benchRun('tunnel', () => {
    netns.cleanupSync();
    removeWireguardSockets(TAG);
  });
  const rows: Row[] = [];
  const handles = new Map<Row, TunnelHandle>();
  const memory = new Map<string, MemoryRow | string>();
  try {
    const lab = await createLab(netns, tmp, ROOT);
    for (const [key, peer, start] of PEERS.filter(([k]) => o.peers.includes(k))) {
      const row: Row = { key, peer, protection: '-', tcp1: [], tcp4: [], full: [], max: [], cpuTcp: [], cpuSmall: [] };
      rows.push(row);
      try {
        const h = await start(lab);
        handles.set(row, h);
        row.protection = h.protection;
        process.stderr.write(`${peer}: up, dialling ${h.addr} (${h.protection})\n`);
      } catch (err) {
        row.note = `not available: ${why(err)}`;
        process.stderr.write(`${peer}: ${row.note}\n`);
      }
    }
    await measure(lab, o, rows, handles);
    for (const [r, h] of handles) r.rss = h.serverPid === undefined ? undefined : rssBytes(h.serverPid);
    for (const m of MEMORY) {
      const [row, h] = [...handles].find(([r]) => r.key === m.key) ?? [];
      if (o.clients === 0) memory.set(m.key, 'not measured (--clients 0)');
      else if (row === undefined || h === undefined || !takesClients(h)) memory.set(m.key, 'tunnel not available');
      else if (row.note !== undefined) memory.set(m.key, row.note);
      else {
        memory.set(m.key, await serverMemory(o.clients, lab, h, m.name, m.block).catch((err: unknown) => `failed: ${why(err)}`));
        process.stderr.write(`${row.peer}: server memory done\n`);
      }
    }
  } finally {
    for (const h of [...handles.values()].reverse()) await h.stop();
    done();
  }
  const cpu = cpus();
  console.log(
    `IP tunnels between two network namespaces over one veth (inner MTU ${TUN_MTU}): iperf3, TCP and ${SMALL} B UDP runs of ${o.seconds} s, ` +
      `the < 5% loss search in ${SEARCH_STEPS} runs of ${SEARCH_SECS} s; median of ${o.rounds} round(s), tunnels taken in turn; ` +
      `${cpu.length} x ${cpu[0]?.model.trim() ?? 'cpu'}, load ${load.toFixed(2)} at start, ${new Date().toISOString()}\n`,
  );
  console.log(`Versions: ${await versions()}\n`);
  for (const l of figuresTable(rows)) console.log(l);
  console.log(`\ninsel over wireguard-go and over OpenVPN, against issue 14 §10's targets (a figure is met when both ratios reach it):\n`);
  for (const l of targetsTable(rows, memory.get('insel-ca') ?? 'tunnel not available', memory.get('openvpn') ?? 'tunnel not available')) console.log(l);
}
