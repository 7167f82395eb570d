// Loads insel's native addon (native/*.c, built by node-gyp at `npm install`
// into build/Release). No JavaScript fallback: a missing build must fail
// loudly, not run quietly at a fraction of the speed.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { InselError } from '../errors.js';

/** An AEAD context of the addon: one key and direction, freed by aeadFree or the GC. */
export type AeadContext = { readonly __brand: 'AeadContext' };

/** A data plane of the addon (native/plane.c): closed by planeClose or the GC. */
export type PlaneHandle = { readonly __brand: 'PlaneHandle' };

export type PlaneAead = 'aes-256-gcm' | 'chacha20-poly1305';

export interface PlaneOptions {
  tunFd: number;
  udpFd: number;
  tap: boolean;
  /** The largest TUN packet (or TAP frame); larger ones are dropped as too_big. */
  maxPacket: number;
  /** Packets per wake-up and per sendmmsg/recvmmsg, 1..256. */
  batch: number;
  /** 0 = off; clamps the MSS of TCP SYNs to this (IPv4) or this - 20 (IPv6), both directions. */
  mss: number;
  clientToClient: boolean;
  /** The TUN fd was opened with offload: reads carry a virtio_net_hdr (TCP super-packets are segmented in C), writes get a zero one. */
  offload?: boolean;
  onEvent: (type: string, peerId: number, a?: unknown, b?: unknown, c?: unknown) => void;
}

export interface PlanePeerOptions {
  recvId: number;
  sendId: number;
  aead: PlaneAead;
  /** The peer's tunnel addresses: routes for those destinations, and the only sources it may use (unless isDefault). */
  vip4?: string;
  vip6?: string;
  /** Every TUN packet without a vip match goes to this peer; any source accepted from it. */
  isDefault?: boolean;
  /** The send path follows the peer: DATA moves it to the rung it came by (UDP address or TCP); any datagram over UDP moves the UDP address while not on TCP (roaming); on TCP, a UDP control packet's address is kept for forceUdp. */
  follow: boolean;
}

export interface PlaneStats {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** The peer's send epoch (mod 256); -1 for the plane's totals. */
  sendEpoch: number;
  /** The next send counter (0 for the plane's totals). */
  sendCounter: number;
  /** Milliseconds since the last authentic datagram, or -1 if none yet. */
  lastRxMs: number;
  /** Drops by reason (only reasons that occurred). */
  drops: Record<string, number>;
}

export interface Addon {
  aeadCreate(aead: string, key: Buffer, iv: Buffer, encrypt: boolean, integrity: boolean): AeadContext;
  aeadFree(ctx: AeadContext): void;
  /** Seals buf[headerLen, end) in place, AAD buf[0, headerLen) (integrity: buf[0, end)); returns end + tag. */
  aeadSeal(ctx: AeadContext, buf: Buffer, headerLen: number, end: number, counter: number): number;
  /** Opens buf in place; the plaintext length after headerLen, or -1 if forged or too short. */
  aeadOpen(ctx: AeadContext, buf: Buffer, headerLen: number, counter: number): number;

  /** Opens a TUN (or TAP) device, IFF_NO_PI, nonblocking; name '' lets the kernel pick insel%d. Throws an Error with code = errno name. */
  /** offload (TUN only): IFF_VNET_HDR with checksum and TCP segmentation offloads; every read and write starts with a virtio_net_hdr. */
  tunOpen(name: string, tap: boolean, offload?: boolean): { fd: number; name: string };
  /** An unconnected nonblocking UDP socket bound to host:port (port 0: any); '::' is dual-stack. */
  udpOpen(host: string, port: number): { fd: number; port: number };
  /** Tests: a SOCK_SEQPACKET socketpair, a TUN stand-in that keeps packet boundaries. */
  testPacketPair(): [number, number];

  planeCreate(opts: PlaneOptions): PlaneHandle;
  planeAddPeer(p: PlaneHandle, peerId: number, o: PlanePeerOptions): void;
  planeRemovePeer(p: PlaneHandle, peerId: number): void;
  planeSetSendKey(p: PlaneHandle, peerId: number, epoch: number, key: Buffer, iv: Buffer, counterStart: number): void;
  planeSetRecvKey(p: PlaneHandle, peerId: number, slot: 'prev' | 'cur' | 'next', epoch: number, key: Buffer | null, iv: Buffer | null): void;
  planeSetPath(p: PlaneHandle, peerId: number, path: { host: string; port: number } | 'tcp'): void;
  planeSetMss(p: PlaneHandle, mss: number): void;
  planeSetClientToClient(p: PlaneHandle, on: boolean): void;
  /** Seals one non-DATA inner packet (zero-padded so the datagram is padTo bytes); true if handed to the kernel or the 'tcp' event. */
  planeSendControl(p: PlaneHandle, peerId: number, kind: number, body: Buffer, padTo: number, forceUdp: boolean): boolean;
  /** A sealed datagram that came over the TCP rung: received as if from UDP, from "tcp". */
  planeInput(p: PlaneHandle, datagram: Buffer): void;
  planeStats(p: PlaneHandle): PlaneStats;
  planeStats(p: PlaneHandle, peerId: number): PlaneStats | undefined;
  planeClose(p: PlaneHandle): void;
}

// dist/src/native/addon.js → the package root, where node-gyp writes build/.
const ADDON_PATH = fileURLToPath(new URL('../../../build/Release/insel.node', import.meta.url));

function load(): Addon {
  try {
    return createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (cause) {
    throw new InselError(
      'INSEL_NATIVE_MISSING',
      `insel's native addon did not load from ${ADDON_PATH}: run \`npm install\` (it builds native/ with node-gyp; needs g++, make and python3)`,
      { file: ADDON_PATH, cause },
    );
  }
}

export const addon: Addon = load();
