// The tunnel bench's lab: a server and a client namespace joined by one veth
// pair (the underlay), and what every tunnel under test gives back when it
// is up. All tunnels run over this same veth at the same time, each on its
// own UDP port and its own tunnel subnet, and are measured in turn.
//
//   ns …-srv  [veth 192.168.214.1/24] ====== [veth 192.168.214.2/24]  ns …-cli
//   tunnel server ends, iperf3 -s                  tunnel client ends, iperf3 -c
import { createNetns, linkVeth, type Netns } from './tunnel-netns.js';

export const UNDERLAY = { server: '192.168.214.1', client: '192.168.214.2', prefix: 24 } as const;
/** Every tunnel's inner MTU, so that the rows compare data planes, not packet sizes (wg's and insel's default). */
export const TUN_MTU = 1420;
/** A tunnel must carry a ping within this long after its processes start, or its row is "not available". */
export const UP_MS = 10_000;

export interface Lab {
  /** Unique per run: part of namespace, device and socket names. */
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

export async function createLab(tmp: string, root: string): Promise<Lab> {
  const tag = String(process.pid);
  const server = await createNetns(`i14-bench-${tag}-srv`);
  const client = await createNetns(`i14-bench-${tag}-cli`);
  await linkVeth(
    { ns: server, dev: `ib${tag}s`, cidr: `${UNDERLAY.server}/${UNDERLAY.prefix}` },
    { ns: client, dev: `ib${tag}c`, cidr: `${UNDERLAY.client}/${UNDERLAY.prefix}` },
  );
  await client.waitPing(UNDERLAY.server, UP_MS);
  return { tag, server, client, tmp, root };
}
