// The memory row of the tunnel bench: a server's resident memory with many
// clients connected (issue 14 §10: insel's CA-mode server, 100 clients,
// < 64 MiB), next to OpenVPN's server with as many.
//
// connectClients() is the hook: today it connects real clients, one process
// and one namespace each (a veth of its own into the server's namespace, see
// clientLink(); for insel a certificate of its own, so the server sees
// distinct identities), a few at a time, for as long as CLIENTS_MS allows and
// memory lasts. An insel client is a Node process, so it may stop short of n:
// the row then says how many it got and extrapolates. When the daemon offers
// a cheaper way to hold n client sessions, only this function changes.
import { readFileSync } from 'node:fs';
import type { Proc } from './forward-procs.js';
import { why } from './report.js';
import { rssBytes } from './tunnel-iperf.js';
import { UNDERLAY, UP_MS, type Lab, type MultiClientHandle } from './tunnel-lab.js';
import { Netns } from './tunnel-netns.js';

const CLIENTS_MS = 60_000;
/** Clients started at once. */
const PARALLEL = 4;
/** Stop adding clients when the machine has less memory available than this. */
const MIN_AVAILABLE = 2 * 1024 ** 3;
/** Let the server settle (allocations after the handshakes) before reading its RSS. */
const SETTLE_MS = 1000;

export interface Clients {
  connected: number;
  /** Why it stopped before n, if it did. */
  stopped?: string;
  stop(): Promise<void>;
}

function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : Infinity;
}

/**
 * Client i's own link: a veth into the server's namespace whose server end
 * holds the server's usual underlay address (UNDERLAY.server/32, peer the
 * client's), so every client dials the address the server's certificate
 * names, as real clients would, and replies leave from it. The client's
 * address is 172.(16 + block).x.y.
 */
async function clientLink(lab: Lab, ns: Netns, dev: string, block: number, i: number): Promise<void> {
  const client = `172.${16 + block}.${i >> 8}.${i & 255}`;
  await lab.netns.veth({ ns: lab.server.name, dev }, { ns: ns.name, dev: 'under0' });
  await lab.server.ip(['address', 'add', `${UNDERLAY.server}/32`, 'peer', `${client}/32`, 'dev', dev]);
  await ns.ip(['address', 'add', `${client}/32`, 'peer', `${UNDERLAY.server}/32`, 'dev', 'under0']);
}

/**
 * Connects up to `n` more clients to `host`'s server; see the file header.
 * `name` (a-z, ≤ 5) and `block` keep the namespaces, devices and addresses of
 * one server's clients apart from another's (they stay until the lab's cleanup).
 */
export async function connectClients(n: number, lab: Lab, host: MultiClientHandle, name: string, block: number): Promise<Clients> {
  const procs: Proc[] = [];
  const stop = async () => void (await Promise.all(procs.map((p) => p.stop())));
  const one = async (i: number) => {
    const ns = new Netns(await lab.netns.ns(`${name}${i}`));
    await clientLink(lab, ns, `${name}-${i}`, block, i);
    const p = await host.spawnClient(ns, UNDERLAY.server, `${name}${i}`);
    procs.push(p);
    await ns.waitPing(host.addr, UP_MS, [p]);
  };
  const deadline = Date.now() + CLIENTS_MS;
  let connected = 0;
  let stopped: string | undefined;
  while (connected < n && stopped === undefined) {
    if (Date.now() > deadline) stopped = `time (${CLIENTS_MS / 1000} s)`;
    else if (memAvailable() < MIN_AVAILABLE) stopped = `memory (< ${MIN_AVAILABLE / 1024 ** 3} GiB available)`;
    if (stopped !== undefined) break;
    const batch = Array.from({ length: Math.min(PARALLEL, n - connected) }, (_, k) => connected + k + 1);
    const results = await Promise.allSettled(batch.map(one));
    connected += results.filter((r) => r.status === 'fulfilled').length;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) stopped = `a client failed: ${why(failed.reason)}`;
  }
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return { connected, stopped, stop };
}

export interface MemoryRow {
  /** Clients connected when RSS was read (the bench's own one included). */
  clients: number;
  rss: number;
  /** With the bench's own client alone. */
  rssOne: number;
  note?: string;
}

/** The server's RSS with its one client, then with up to `total` clients. */
export async function serverMemory(total: number, lab: Lab, host: MultiClientHandle, name: string, block: number): Promise<MemoryRow> {
  const pid = host.serverPid ?? 0;
  const rssOne = rssBytes(pid);
  if (rssOne === undefined) throw new Error('the server is gone');
  const more = await connectClients(total - 1, lab, host, name, block);
  try {
    const rss = rssBytes(pid);
    if (rss === undefined) throw new Error(`the server exited with ${more.connected + 1} clients`);
    return { clients: more.connected + 1, rss, rssOne, note: more.stopped && `stopped at ${more.connected + 1} clients: ${more.stopped}` };
  } finally {
    await more.stop();
  }
}
