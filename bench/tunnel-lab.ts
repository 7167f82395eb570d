// The tunnel bench's lab: a server and a client namespace joined by one veth
// pair (the underlay), and what every tunnel under test gives back when it
// is up. All tunnels run over this same veth at the same time, each on its
// own UDP port and its own tunnel subnet, and are measured in turn.
//
//   ns i14-bench-PID-N-srv [veth 192.168.214.1/24] ====== [veth 192.168.214.2/24] ns i14-bench-PID-N-cli
//   tunnel server ends, iperf3 -s                                tunnel client ends, iperf3 -c
import { NetnsLab } from '../src/hostnet/netns-testing.js';
import type { Proc } from './forward-procs.js';
import { Netns } from './tunnel-netns.js';

export const UNDERLAY = { server: '192.168.214.1', client: '192.168.214.2', prefix: 24 } as const;
/** Every tunnel's inner MTU, so that the rows compare data planes, not packet sizes (wg's and insel's default). */
export const TUN_MTU = 1420;
/** A tunnel must carry a ping within this long after its processes start, or its row is "not available". */
export const UP_MS = 10_000;
/** Unique per run: part of device and socket names that live outside the namespaces. */
export const TAG = String(process.pid);

export interface Lab {
  /** The namespaces; its cleanup removes them all. */
  netns: NetnsLab;
  /** Unique per run: part of device and socket names that live outside the namespaces. */
  tag: string;
  server: Netns;
  client: Netns;
  /** A private scratch directory for keys and configs. */
  tmp: string;
  /** The repository root (for dist/src/cli/main.js). */
  root: string;
}

/** What a started tunnel gives the bench. */
export interface TunnelHandle {
  /** The server end's tunnel address: iperf3's client dials it from the client namespace. */
  addr: string;
  /** What protects the traffic, as negotiated when it can be read back. */
  protection: string;
  /** The tunnel's processes at each end (none for the plain veth), for CPU time and RSS. */
  serverPid?: number;
  clientPid?: number;
  stop(): Promise<void>;
}

/** A tunnel server that takes more clients (the memory row, tunnel-clients.ts). */
export interface MultiClientHandle extends TunnelHandle {
  /** Starts one more client in `ns`, dialling the server at `remote` (an address of the server namespace); `name` is unique. */
  spawnClient(ns: Netns, remote: string, name: string): Promise<Proc>;
}

export async function createLab(netns: NetnsLab, tmp: string, root: string): Promise<Lab> {
  const server = new Netns(await netns.ns('srv'));
  const client = new Netns(await netns.ns('cli'));
  await netns.veth({ ns: server.name, dev: 'under0', addr4: `${UNDERLAY.server}/${UNDERLAY.prefix}` }, { ns: client.name, dev: 'under0', addr4: `${UNDERLAY.client}/${UNDERLAY.prefix}` });
  await client.waitPing(UNDERLAY.server, UP_MS);
  return { netns, tag: TAG, server, client, tmp, root };
}
