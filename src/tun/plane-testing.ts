// Test helpers for the data plane: a Plane whose "TUN" is one end of a
// SOCK_SEQPACKET pair (the test holds the other), so the C path runs for
// real without root; packets and datagrams built and checked in JavaScript
// with secsock's codec and AEAD (the reference implementation).
import { createSocket, type Socket } from 'node:dgram';
import { closeSync, readSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { addon, type PlaneAead } from '../native/addon.js';
import { Opener, Sealer } from '../secsock/aead.js';
import { DGRAM_HEADER_SIZE } from '../secsock/constants.js';
import { decodeHeader, writeHeader } from '../secsock/datagram.js';
import { openUdp, type UdpSocket } from './device.js';
import { Plane, type PlaneEvents, type PlaneInit } from './plane.js';

export type Event = [type: keyof PlaneEvents, ...args: unknown[]];

export interface Rig {
  plane: Plane;
  /** The test's end of the "TUN" device. */
  tun: number;
  udp: UdpSocket;
  events: Event[];
  close(): void;
}

const EVENTS = ['control', 'promoted', 'path', 'tcp', 'unknown', 'down'] as const;

export function rig(init: Partial<PlaneInit> = {}, host = '127.0.0.1'): Rig {
  const [mine, theirs] = addon.testPacketPair();
  const udp = openUdp(host, 0);
  const plane = new Plane({ tunFd: mine, udpFd: udp.fd, maxPacket: 1500, ...init });
  const events: Event[] = [];
  for (const type of EVENTS) plane.on(type, (...args: unknown[]) => events.push([type, ...args]));
  return {
    plane,
    tun: theirs,
    udp,
    events,
    close() {
      plane.close();
      udp.close();
      closeSync(mine);
      closeSync(theirs);
    },
  };
}

/** Every packet waiting on a nonblocking fd, now. */
export function drain(fd: number): Buffer[] {
  const out: Buffer[] = [];
  for (;;) {
    const buf = Buffer.alloc(65536);
    try {
      out.push(buf.subarray(0, readSync(fd, buf)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return out;
      throw err;
    }
  }
}

/** Waits (on the loop, bounded) until `cond` holds. */
export async function until(cond: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Reads from the fd until `n` packets came. */
export async function readPackets(fd: number, n: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  await until(() => (got.push(...drain(fd)), got.length >= n), `${n} packets on the TUN side`);
  return got;
}

export function writePacket(fd: number, pkt: Buffer): void {
  writeSync(fd, pkt);
}

export interface Keys {
  aead: PlaneAead;
  key: Buffer;
  iv: Buffer;
}

/** secsock's sealing of one datagram: header(epoch, channel, counter) ‖ AEAD(kind ‖ 0 ‖ body). */
export function sealTs(k: Keys, epoch: number, channel: number, counter: number, kind: number, body: Uint8Array): Buffer {
  const s = new Sealer(k.aead, 'private', { epoch, key: k.key, iv: k.iv });
  const out = Buffer.alloc(DGRAM_HEADER_SIZE + 2 + body.length + 16);
  writeHeader(out, epoch, channel, counter);
  const n = s.seal(out, DGRAM_HEADER_SIZE, Buffer.from([kind, 0]), 2, body, counter);
  s.free();
  return out.subarray(0, n);
}

/** secsock's opening: the header and inner, or undefined if not authentic. */
export function openTs(k: Keys, datagram: Buffer): { epoch: number; channelId: number; counter: number; kind: number; body: Buffer } | undefined {
  const h = decodeHeader(datagram, { type: 0, epoch: 0, channelId: 0, counter: 0 });
  const o = new Opener(k.aead, 'private', { epoch: h.epoch, key: k.key, iv: k.iv });
  const inner = o.open(Buffer.from(datagram), DGRAM_HEADER_SIZE, h.counter);
  o.free();
  if (inner === undefined) return undefined;
  return { epoch: h.epoch, channelId: h.channelId, counter: h.counter, kind: inner[0]!, body: Buffer.from(inner.subarray(2)) };
}

export interface Remote {
  sock: Socket;
  port: number;
  /** Datagrams it received, in order. */
  got: Buffer[];
}

/** A UDP socket playing the remote peer. */
export async function remote(): Promise<Remote> {
  const sock = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return { sock, port: sock.address().port, got };
}

/** Runs `body` with a rig and `n` remote peers, and closes them all whatever happens. */
export async function withRig(init: Partial<PlaneInit>, n: number, body: (r: Rig, remotes: Remote[]) => Promise<void> | void): Promise<void> {
  const r = rig(init);
  const remotes: Remote[] = [];
  try {
    for (let i = 0; i < n; i++) remotes.push(await remote());
    await body(r, remotes);
  } finally {
    for (const x of remotes) x.sock.close();
    r.close();
  }
}

// ---- IP packets ---------------------------------------------------------------

function sum16(b: Buffer, start = 0): number {
  let s = start;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function ipBytes(a: string): Buffer {
  if (!a.includes(':')) return Buffer.from(a.split('.').map(Number));
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** An IPv4 or IPv6 packet (by the address family) carrying `proto` with the given payload. */
export function ipPacket(src: string, dst: string, proto: number, payload: Buffer): Buffer {
  const s = ipBytes(src);
  const d = ipBytes(dst);
  if (s.length === 4) {
    const h = Buffer.alloc(20);
    h[0] = 0x45;
    h.writeUInt16BE(20 + payload.length, 2);
    h[8] = 64;
    h[9] = proto;
    s.copy(h, 12);
    d.copy(h, 16);
    h.writeUInt16BE(~sum16(h) & 0xffff, 10);
    return Buffer.concat([h, payload]);
  }
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = proto;
  h[7] = 64;
  s.copy(h, 8);
  d.copy(h, 24);
  return Buffer.concat([h, payload]);
}

function pseudo(pkt: Buffer): Buffer {
  const v4 = pkt[0]! >> 4 === 4;
  const hl = v4 ? (pkt[0]! & 15) * 4 : 40;
  const len = pkt.length - hl;
  const p = v4 ? Buffer.alloc(12) : Buffer.alloc(40);
  if (v4) {
    pkt.copy(p, 0, 12, 20);
    p[9] = pkt[9]!;
    p.writeUInt16BE(len, 10);
  } else {
    pkt.copy(p, 0, 8, 40);
    p.writeUInt32BE(len, 32);
    p[39] = pkt[6]!;
  }
  return p;
}

/** The pseudo-header's sum (not complemented), as the kernel leaves it in a partial (offloaded) checksum. */
export function pseudoSum(pkt: Buffer): number {
  return sum16(pseudo(pkt));
}

/** True if the TCP checksum of the IP packet is right. */
export function tcpChecksumOk(pkt: Buffer): boolean {
  const hl = pkt[0]! >> 4 === 4 ? (pkt[0]! & 15) * 4 : 40;
  return sum16(pkt.subarray(hl), sum16(pseudo(pkt))) === 0xffff;
}

/** A TCP SYN with an MSS option (after `nops` NOP options, to move it off alignment), checksummed. */
export function tcpSyn(src: string, dst: string, mss: number, nops = 0): Buffer {
  const optLen = Math.ceil((nops + 4) / 4) * 4;
  const tcp = Buffer.alloc(20 + optLen, 0);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(80, 2);
  tcp.writeUInt32BE(12345, 4);
  tcp[12] = ((20 + optLen) / 4) << 4;
  tcp[13] = 0x02;
  tcp.writeUInt16BE(65535, 14);
  tcp.fill(1, 20, 20 + nops);
  tcp[20 + nops] = 2;
  tcp[21 + nops] = 4;
  tcp.writeUInt16BE(mss, 22 + nops);
  const pkt = ipPacket(src, dst, 6, tcp);
  const hl = src.includes(':') ? 40 : 20;
  pkt.writeUInt16BE(~sum16(pkt.subarray(hl), sum16(pseudo(pkt))) & 0xffff, hl + 16);
  return pkt;
}

/** The MSS option's value of a TCP SYN built by tcpSyn. */
export function synMss(pkt: Buffer, nops = 0): number {
  return pkt.readUInt16BE((pkt[0]! >> 4 === 4 ? 20 : 40) + 22 + nops);
}
