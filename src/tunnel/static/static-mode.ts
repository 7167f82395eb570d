// Static-key mode (seed 004): two ends, one shared secret, no certificates.
// The end with `remote` (the initiator) sends first; the other learns its
// session id and address from the first datagram that opens (learn-static.ts)
// and answers there. Either end restarting is a new session id: the other
// learns it once the old one has been silent for a keepalive interval (so a
// replayed datagram of an earlier run cannot steal a live session).
import type { Aead } from '../../secsock/algorithms.js';
import { InnerKind } from '../../secsock/constants.js';
import type { Plane, PlanePath } from '../../tun/plane.js';
import { learnStaticPeer } from './learn-static.js';
import { PeerKeys } from '../peer-keys.js';
import { newSessionId, randomCounterStart, staticChain } from './static-keys.js';
import type { TunnelLog } from '../log.js';

const PEER = 1;
/** Learning costs key derivations: at most this many attempts per second. */
const LEARN_PER_SECOND = 4;
/** The initiator says hello this often until the responder answers. */
const HELLO_MS = 1000;

export interface StaticOptions {
  plane: Plane;
  secret: Buffer;
  aead: Aead;
  /** initiator: the responder's address (resolved); responder: none */
  remote?: { host: string; port: number };
  keepaliveMs: number;
  timeoutMs: number;
  log: TunnelLog;
  now: () => number;
}

export class StaticTunnel {
  private readonly sid = newSessionId();
  private readonly send;
  private keys: PeerKeys | undefined;
  private peerSid = 0;
  private lastHello = 0;
  private lastKeepalive = 0;
  private learnTokens = LEARN_PER_SECOND;
  private learnRefill = 0;
  private path: string | undefined;
  private silentSince = 0;

  constructor(private readonly o: StaticOptions) {
    this.send = staticChain(o.secret, this.sid);
    // Until the peer's id is known, nothing matches its datagrams (ids are never 0): they come up as 'unknown'.
    o.plane.addPeer(PEER, { recvId: 0, sendId: this.sid, aead: o.aead, isDefault: true, follow: true });
    const first = this.send.next();
    o.plane.setSendKey(PEER, first.epoch, first.key, first.iv, randomCounterStart());
    first.key.fill(0);
    first.iv.fill(0);
    if (o.remote !== undefined) this.setPath(o.remote);
    o.plane.on('unknown', (channelId: number, datagram: Buffer, from: string) => this.unknown(channelId, datagram, from));
    o.plane.on('promoted', (peerId: number) => peerId === PEER && this.keys?.promoted(this.o.now()));
    o.plane.on('path', (peerId: number, from: string) => {
      if (peerId === PEER && from !== this.path) {
        this.o.log.info(`peer moved to ${from}`);
        this.path = from;
      }
    });
    o.plane.on('control', (peerId: number, kind: number, body: Buffer) => {
      if (peerId !== PEER || kind !== InnerKind.CLOSE) return;
      this.o.log.info(`peer closed: ${body.toString('utf8').slice(0, 256)}`);
      // An authentic CLOSE ends its session: the restarted peer's new id is learned at once, not after a silent keepalive interval.
      this.peerSid = 0;
    });
    this.hello();
  }

  get peerKnown(): boolean {
    return this.peerSid !== 0;
  }

  get peerPath(): string | undefined {
    return this.path;
  }

  /** Every ~100-500 ms: keepalives, rekey, silence. */
  tick(): void {
    const now = this.o.now();
    const st = this.o.plane.stats(PEER);
    if (st === undefined) return;
    this.keys?.tick(now, st.sendCounter);
    if (!this.peerKnown || st.lastRxMs < 0 || st.lastRxMs > this.o.keepaliveMs) {
      if (now - this.lastHello >= HELLO_MS) this.hello();
    } else if (now - this.lastKeepalive >= this.o.keepaliveMs) {
      this.keepalive();
    }
    const silent = this.peerKnown && st.lastRxMs > this.o.timeoutMs;
    if (silent && this.silentSince === 0) {
      this.silentSince = now;
      this.o.log.warn(`nothing from the peer for ${Math.round(this.o.timeoutMs / 1000)} s (keepalive timeout); still trying`);
    } else if (!silent) this.silentSince = 0;
  }

  close(reason: string): void {
    if (this.path !== undefined) this.o.plane.sendControl(PEER, InnerKind.CLOSE, Buffer.from(reason, 'utf8'), 0, false);
  }

  private hello(): void {
    this.lastHello = this.o.now();
    this.keepalive();
  }

  private keepalive(): void {
    if (this.path === undefined) return;
    this.lastKeepalive = this.o.now();
    this.o.plane.sendControl(PEER, InnerKind.KEEPALIVE, Buffer.alloc(0), 0, false);
  }

  private setPath(p: PlanePath): void {
    this.o.plane.setPath(PEER, p);
    this.path = typeof p === 'string' ? p : `${p.host}:${p.port}`;
  }

  private unknown(channelId: number, datagram: Buffer, from: string): void {
    const now = this.o.now();
    if (channelId === this.peerSid) return;
    // A new id while the current one is alive is a replay of an earlier run, or noise.
    if (this.peerKnown) {
      const st = this.o.plane.stats(PEER);
      if (st !== undefined && st.lastRxMs >= 0 && st.lastRxMs < this.o.keepaliveMs) return;
    }
    this.learnTokens = Math.min(LEARN_PER_SECOND, this.learnTokens + ((now - this.learnRefill) / 1000) * LEARN_PER_SECOND);
    this.learnRefill = now;
    if (this.learnTokens < 1) return;
    this.learnTokens--;
    const learned = learnStaticPeer(this.o.secret, this.o.aead, datagram);
    if (learned === undefined) return;
    this.o.plane.removePeer(PEER);
    this.o.plane.addPeer(PEER, { recvId: learned.sid, sendId: this.sid, aead: this.o.aead, isDefault: true, follow: true });
    this.keys = new PeerKeys(this.o.plane, PEER, this.send, staticChain(this.o.secret, learned.sid), {
      counterStart: randomCounterStart,
      rekeyAfterMs: 0,
    });
    this.keys.install(now, learned.epoch);
    this.peerSid = learned.sid;
    const [host, port] = splitFrom(from);
    if (host !== undefined) this.setPath({ host, port });
    this.o.log.info(`peer session ${learned.sid.toString(16)} from ${from}: tunnel up`);
    // The datagram that taught us is not replayed into the plane: the peer's hellos repeat until we answer.
    this.keepalive();
  }
}

function splitFrom(from: string): [string | undefined, number] {
  const i = from.lastIndexOf(':');
  if (i < 0 || from === 'tcp') return [undefined, 0];
  return [from.slice(0, i).replace(/^\[|\]$/g, ''), Number(from.slice(i + 1))];
}
