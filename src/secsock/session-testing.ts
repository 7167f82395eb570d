// Test helpers: two datagram sessions on an in-memory network with a manual
// clock, keyed as a UDP channel is (without the TLS connection phase).
import { randomBytes } from 'node:crypto';
import type { Identity } from '../pki/identity.js';
import type { ChannelParams } from './channel.js';
import { ManualClock } from './clock.js';
import { resolveOptions, type SecOptions } from './config.js';
import { DatagramSession, type SessionLimits, type SessionSink } from './datagram-session.js';
import { KeyChain } from './keys.js';
import { MemoryNet } from './memory-net.js';
import { UdpChannel } from './udp-channel.js';
import { UdpEndpoint } from './udp-endpoint.js';

export const TICK_MS = 100;
export const LIMITS: SessionLimits = { keepaliveMs: 1_000, deadPeerMs: 5_000, rekeyAfterMs: 60_000, rekeyAfterPackets: 1_000_000, rekeyAfterBytes: 2 ** 36 };

/** A sink that records what arrives. */
export class Recorder implements SessionSink {
  readonly packets: Buffer[] = [];
  readonly fragments: { msgId: number; index: number; count: number; body: Buffer }[] = [];
  readonly roams: string[] = [];
  /** null while the session lives; then its error, or undefined for a clean close. */
  endedWith: Error | null | undefined = null;
  packet(body: Buffer): void {
    this.packets.push(body);
  }
  fragment(msgId: number, index: number, count: number, _flags: number, body: Buffer): void {
    this.fragments.push({ msgId, index, count, body });
  }
  roamed(remote: string): void {
    this.roams.push(remote);
  }
  tick(): void {}
  ended(err: Error | undefined): void {
    this.endedWith = err;
  }
}

export interface SessionPair {
  net: MemoryNet;
  clock: ManualClock;
  client: DatagramSession;
  server: DatagramSession;
  clientEp: UdpEndpoint;
  serverEp: UdpEndpoint;
  atClient: Recorder;
  atServer: Recorder;
  /** The secrets both ends were keyed from: a third party with them can forge. */
  c2s: Buffer;
  s2c: Buffer;
}

/** A server endpoint at 10.0.0.1:4500 and a client's, on one in-memory network, and fresh secrets for both directions. */
async function twoEnds() {
  const net = new MemoryNet();
  const clock = new ManualClock();
  const ep = { tickMs: TICK_MS, binder: net.binder, clock };
  const serverEp = await UdpEndpoint.open('10.0.0.1', 4500, { ...ep, closeWhenEmpty: false });
  const clientEp = await UdpEndpoint.open('10.0.0.2', 0, { ...ep, closeWhenEmpty: true });
  return { net, clock, serverEp, clientEp, c2s: randomBytes(32), s2c: randomBytes(32) };
}

export async function sessionPair(o: { limits?: Partial<SessionLimits>; mode?: 'private' | 'integrity' | 'none'; channelId?: number } = {}): Promise<SessionPair> {
  const { net, clock, serverEp, clientEp, c2s, s2c } = await twoEnds();
  const common = { aead: 'aes-256-gcm' as const, mode: o.mode ?? ('private' as const), datagramSize: 1400, limits: { ...LIMITS, ...o.limits }, channelId: o.channelId ?? 7 };
  const server = new DatagramSession({ ...common, endpoint: serverEp, role: 'server', sendChain: new KeyChain('sha256', Buffer.from(s2c)), recvChain: new KeyChain('sha256', Buffer.from(c2s)) });
  const client = new DatagramSession({
    ...common,
    endpoint: clientEp,
    role: 'client',
    sendChain: new KeyChain('sha256', Buffer.from(c2s)),
    recvChain: new KeyChain('sha256', Buffer.from(s2c)),
    peerAddress: '10.0.0.1',
    peerPort: 4500,
  });
  const atClient = new Recorder();
  const atServer = new Recorder();
  client.sink = atClient;
  server.sink = atServer;
  client.sayHello();
  await net.settle();
  return { net, clock, client, server, clientEp, serverEp, atClient, atServer, c2s, s2c };
}

export interface ChannelPairOptions {
  params?: Partial<ChannelParams>;
  options?: Partial<SecOptions>;
}

/** Two UDP message channels on an in-memory network, established, with a manual clock. */
export async function channelPair(o: ChannelPairOptions = {}): Promise<{ net: MemoryNet; clock: ManualClock; client: UdpChannel; server: UdpChannel }> {
  const { net, clock, serverEp, clientEp, c2s, s2c } = await twoEnds();
  const params: ChannelParams = { transport: 'udp', aead: 'aes-256-gcm', hash: 'sha256', compression: 'deflate', mode: 'private', maxFrame: 65536, maxMessage: 1 << 24, datagramSize: 1400, tlsCipher: 'none', ...o.params };
  const opts = resolveOptions({ transport: 'udp', identity: { cert: '-', key: '-', ca: '-' }, ...o.options });
  const peer = (name: string): Identity => ({ org: 'test', role: 'user', name, groups: [], serial: '1' });
  const chain = (secret: Buffer) => new KeyChain('sha256', Buffer.from(secret));
  const server = new UdpChannel({ endpoint: serverEp, role: 'server', channelId: 7, sendChain: chain(s2c), recvChain: chain(c2s) }, peer('client'), params, opts);
  const client = new UdpChannel({ endpoint: clientEp, role: 'client', channelId: 7, sendChain: chain(c2s), recvChain: chain(s2c), peerAddress: '10.0.0.1', peerPort: 4500 }, peer('server'), params, opts);
  client.sayHello();
  await Promise.all([client.whenEstablished(), server.whenEstablished()]);
  return { net, clock, client, server };
}
