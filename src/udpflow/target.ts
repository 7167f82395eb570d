// Where a flow's datagrams go at the gateway: a UDP socket connected to
// host:port (insel forward -U), or whatever a service opener returns (the
// organization's relays, src/org/site/udp-relay.ts). The gateway only sends
// into a target and closes it; the target reports back through TargetEvents.
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Identity } from '../pki/identity.js';

export interface FlowTarget {
  /** One datagram towards the target; never throws, drops are the target's to count. */
  send(datagram: Buffer): void;
  /** The flow ended at the gateway: release what the target holds. Called once. */
  close(): void;
}

/** What a target tells its flow. */
export interface TargetEvents {
  /** A datagram back towards the client. */
  message(datagram: Buffer): void;
  /** A per-datagram error (the flow stays): remembered for the end-of-flow line. */
  error(err: Error): void;
  /** The target ended the flow (the far end left): the client gets a CLOSE with the reason. */
  ended(reason: string): void;
}

export type TargetVerdict = { allow: true; target: FlowTarget; address: string } | { allow: false; reason: string };

/**
 * Opens a flow that names a service (OPEN_SERVICE): `ticket` is empty when a
 * user asks its own site, HQ's ticket when a site relays. The gateway passes
 * the channel's verified identity; the opener decides and builds the target.
 */
export type ServiceOpener = (identity: Identity, service: string, ticket: string, events: TargetEvents) => Promise<TargetVerdict>;

const CONNECT_TIMEOUT_MS = 5_000;
/** A flow socket's receive buffer: a burst of target replies waits there while the event loop is busy (the default ~208 KiB holds ~150 datagrams). The kernel caps it at rmem_max. */
const FLOW_SOCKET_BUFFER = 1024 * 1024;

/** A UDP socket connected to address:port as a target: the kernel then filters replies to that address for us. */
export async function socketTarget(address: string, port: number, events: TargetEvents): Promise<FlowTarget> {
  const socket = await connectSocket(address, port);
  socket.on('message', (msg: Buffer) => events.message(msg));
  // ICMP port unreachable surfaces as ECONNREFUSED on a connected socket: the
  // target may come up later, so the flow stays; the end-of-flow line says it.
  socket.on('error', (err: Error) => events.error(err));
  return { send: (d) => socket.send(d), close: () => socket.close() };
}

function connectSocket(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', recvBufferSize: FLOW_SOCKET_BUFFER });
    const timer = setTimeout(() => fail(new Error(`no connect within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      s.removeAllListeners();
      try {
        s.close();
      } catch {
        // already closed
      }
      reject(err);
    };
    s.once('error', fail);
    s.connect(port, address, () => {
      clearTimeout(timer);
      s.off('error', fail);
      resolve(s);
    });
  });
}
