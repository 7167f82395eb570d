// CA-mode client: a TLS 1.3 control connection to the server (directly, or
// through an HTTP proxy when direct TCP fails and `http-proxy` is set), keys
// from that session, and the data plane's one peer. Data goes over UDP
// while UDP answers and over the control connection (PACKET frames) while
// it does not; the ladder (ladder.ts) decides, PMTU discovery (pmtu.ts)
// sizes the device. A lost control connection is dialled again with
// backoff; the device, its addresses and the applications' connections stay.
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import type { TLSSocket } from 'node:tls';
import type { Identity } from '../../pki/identity.js';
import type { IdentityPem } from '../../pki/profile.js';
import { staleCrlError, staleRootCrl, trustFromPem, type Trust } from '../../pki/trust.js';
import { InselError } from '../../errors.js';
import { AEADS, HASHES, type Aead } from '../../secsock/algorithms.js';
import { DGRAM_HEADER_SIZE, InnerKind, TAG_SIZE, INNER_HEADER_SIZE } from '../../secsock/constants.js';
import { freshNonce, peerLabel, readFrame, rejectionFrom, sendReject, udpChains } from '../../secsock/handshake.js';
import { encodeFrame } from '../../secsock/frame.js';
import { connectTls } from '../../tls/connect.js';
import { verifyServer } from '../../tls/verify.js';
import type { Plane } from '../../tun/plane.js';
import { TunnelError } from '../errors.js';
import { connectViaProxy } from './http-proxy.js';
import { Ladder, type Rung } from './ladder.js';
import type { Clock } from '../../secsock/clock.js';
import type { TunnelLog } from '../log.js';
import { PeerKeys } from '../peer-keys.js';
import { Pmtu } from './pmtu.js';
import { ackFor, decodeProbeAck, encodeProbe } from './probe.js';
import { TUN_ALPN, TUN_VERSION, TunFrame, decodeAccept, encodeJson, newTunDecoder, writePacketFrame, type TunAccept } from '../wire.js';

const PEER = 1;
/** Bytes the data channel adds to each packet: header, inner header, tag. */
export const TUNNEL_OVERHEAD = DGRAM_HEADER_SIZE + INNER_HEADER_SIZE + TAG_SIZE;
const BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000];
/** A session lost after this long is redialled at once; younger ones back off (see drop). */
const STABLE_SESSION_MS = 60_000;

export interface TunnelClientOptions {
  plane: Plane;
  identity: IdentityPem;
  allowStaleCrl?: boolean;
  remotes: { host: string; port: number; tcpPort: number }[];
  aeads: Aead[];
  credentials?: { user: string; password: string };
  httpProxy?: { host: string; port: number };
  /** proto tcp: never UDP */
  tcpOnly: boolean;
  /** the most the underlay carries: the largest datagram PMTU discovery may try */
  maxDatagram: number;
  handshakeTimeoutMs: number;
  /** once per ACCEPT: addresses, routes and MTU on the device (the daemon's) */
  onAccept(accept: TunAccept, server: string): Promise<void>;
  /** the device MTU follows the path */
  onMtu(mtu: number): void;
  log: TunnelLog;
  clock: Clock;
}

interface Session {
  socket: TLSSocket;
  server: Identity;
  accept: TunAccept;
  keys: PeerKeys;
  remote: { host: string; port: number; tcpPort: number };
  viaProxy: boolean;
  udpHost: string;
  ladder: Ladder;
  startedAt: number;
}

export class TunnelClient {
  private session: Session | undefined;
  private readonly trust: Trust;
  private closed = false;
  private attempt = 0;
  private wake: (() => void) | undefined;
  private lastKeepalive = 0;
  private connecting: Promise<void> | undefined;
  readonly pmtu: Pmtu;
  /** PACKETs dropped because the server does not read the TCP rung */
  tcpDropped = 0;
  private up: ((err?: Error) => void) | undefined;
  private readonly now: () => number;
  private lastTx = 0;

  constructor(private readonly o: TunnelClientOptions) {
    this.trust = trustFromPem(o.identity.ca, o.identity.crl);
    const stale = staleRootCrl(this.trust, new Date());
    if (stale && o.allowStaleCrl !== true) throw staleCrlError(stale, new Date(), 'refresh crl.pem from your CA (insel pki export), or start with --allow-stale-crl');
    this.now = () => o.clock.now();
    this.pmtu = new Pmtu({
      clock: o.clock,
      max: o.maxDatagram,
      sendProbe: (id, size) => void this.o.plane.sendControl(PEER, InnerKind.PROBE, encodeProbe(id), size, true),
      onChange: (size, why) => {
        o.log.info(`path MTU: datagrams of ${size} bytes (${why})`);
        o.onMtu(size - TUNNEL_OVERHEAD);
      },
    });
    const p = o.plane;
    p.on('tcp', (_id: number, datagram: Buffer) => {
      const s = this.session;
      if (s !== undefined && !writePacketFrame(s.socket, datagram)) this.tcpDropped++;
    });
    p.on('promoted', () => this.session?.keys.promoted(this.now()));
    p.on('control', (_id: number, kind: number, body: Buffer, from: string) => this.control(kind, body, from));
  }

  /** Resolves once the first session is up (ACCEPT applied); rejects if the first attempt at every remote fails. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.up = (err) => (err === undefined ? resolve() : reject(err));
      this.connecting = this.connect();
    });
  }

  /** The rung data takes now; undefined between sessions. */
  get rung(): Rung | undefined {
    const s = this.session;
    if (s === undefined) return undefined;
    return s.ladder.rung === 'udp' ? 'udp' : s.viaProxy ? 'http-proxy' : 'tcp';
  }

  get rungWhy(): string {
    return this.session?.ladder.why ?? 'connecting';
  }

  /** The server's address as the data path uses it. */
  get serverAddress(): string | undefined {
    return this.session?.udpHost;
  }

  get serverName(): string | undefined {
    return this.session?.server.name;
  }

  get accepted(): TunAccept | undefined {
    return this.session?.accept;
  }

  tick(): void {
    const s = this.session;
    if (s === undefined || this.closed) return;
    const now = this.now();
    const st = this.o.plane.stats(PEER);
    if (st === undefined) return;
    s.keys.tick(now, st.sendCounter);
    // Sends the kernel refused (a firewall's EPERM) are attempts too: an answer is owed all the same.
    const attempts = st.txPackets + (st.drops['send_failed'] ?? 0);
    if (s.ladder.rung === 'udp') {
      // Data went out over UDP since the last tick: an answer is owed (the ladder's silence check).
      if (attempts !== this.lastTx) s.ladder.onUdpTx();
      // Data came back recently: UDP works (DATA raises no event of its own).
      if (st.lastRxMs >= 0 && st.lastRxMs < 500) s.ladder.onAuthenticRx('udp');
    }
    this.lastTx = attempts;
    s.ladder.tick();
    this.pmtu.tick();
    const [interval, timeout] = s.accept.keepalive;
    if (now - this.lastKeepalive >= interval * 1000) this.sendKeepalive(false);
    if (st.lastRxMs > timeout * 1000) this.drop(`nothing from the server for ${timeout} s (keepalive timeout)`);
  }

  close(reason = 'client shutting down'): void {
    this.closed = true;
    this.wake?.();
    const s = this.session;
    if (s === undefined) return;
    const why = Buffer.from(reason, 'utf8');
    this.o.plane.sendControl(PEER, InnerKind.CLOSE, why, 0, false);
    s.socket.end(encodeFrame(TunFrame.CLOSE, 0, why));
    this.o.plane.removePeer(PEER);
    this.session = undefined;
  }

  private sendKeepalive(forceUdp: boolean): boolean {
    if (this.session === undefined) return false;
    this.lastKeepalive = this.now();
    return this.o.plane.sendControl(PEER, InnerKind.KEEPALIVE, Buffer.alloc(0), 0, forceUdp);
  }

  private control(kind: number, body: Buffer, from: string): void {
    const viaUdp = from !== 'tcp';
    if (viaUdp) this.session?.ladder.onAuthenticRx('udp');
    try {
      if (kind === InnerKind.PROBE_ACK) {
        const ack = decodeProbeAck(body);
        this.pmtu.onAck(ack.id, ack.size);
      } else if (kind === InnerKind.PROBE) {
        this.o.plane.sendControl(PEER, InnerKind.PROBE_ACK, ackFor(body), 0, viaUdp);
      }
    } catch (err) {
      this.o.log.debug(`bad probe from the server: ${(err as Error).message}`);
    }
    if (kind === InnerKind.CLOSE) {
      this.drop(`the server closed the session: ${body.toString('utf8').slice(0, 256)}`);
    }
  }

  private switchTo(rung: Rung, why: string): void {
    const s = this.session;
    this.o.log.info(`transport: ${rung} (${why})`);
    if (s === undefined) return;
    if (rung === 'udp') {
      this.o.plane.setPath(PEER, { host: s.udpHost, port: s.accept.udpPort });
      this.pmtu.start();
      // Until a probe confirms more, the device carries what the base size carries (RFC 8899 §5.1.3),
      // not tun-mtu: a path that takes less would black-hole full-sized packets until the search ends.
      this.o.log.info(`path MTU: datagrams of ${this.pmtu.plpmtu} bytes until probes confirm more`);
      this.o.onMtu(this.pmtu.plpmtu - TUNNEL_OVERHEAD);
    } else {
      // After a roam the control connection may still be bound to an address we no longer have: dead, not a rung.
      const local = s.socket.localAddress;
      if (!hasLocalAddress(local)) return this.drop(`our address ${local} is gone (we moved): a new control connection`);
      this.o.plane.setPath(PEER, 'tcp');
      this.pmtu.stop();
    }
  }

  /** The control connection is gone: the device stays, a new session is dialled. */
  private drop(why: string): void {
    const s = this.session;
    if (s === undefined) return;
    this.session = undefined;
    // A long session lost (a network blip) is redialled at once. Sessions that keep ending young wait longer
    // each time: two copies of one identity, each replacing the other at the server, would otherwise loop.
    const stable = this.now() - s.startedAt >= STABLE_SESSION_MS;
    if (stable) this.attempt = 0;
    const wait = stable ? 0 : this.backoff();
    this.o.log.warn(`session lost: ${why}; reconnecting${wait === 0 ? '' : ` in ${wait / 1000} s`}`);
    s.ladder.onTcpDown(why);
    this.pmtu.stop();
    s.socket.destroy();
    this.o.plane.removePeer(PEER);
    if (!this.closed && this.connecting === undefined) this.connecting = this.connect(wait);
  }

  private backoff(): number {
    return BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)]!;
  }

  /** Resolves after `ms`, or at once when close() is called. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async connect(firstWait = 0): Promise<void> {
    if (firstWait > 0) await this.sleep(firstWait);
    while (!this.closed) {
      let lastErr: Error | undefined;
      for (const remote of this.o.remotes) {
        try {
          await this.handshake(remote);
          this.connecting = undefined;
          if (this.closed) this.close(); // close() came while we dialled: the new session ends too
          this.up?.();
          this.up = undefined;
          return;
        } catch (err) {
          lastErr = err as Error;
          this.o.log.warn(`cannot reach ${remote.host}:${remote.tcpPort}: ${lastErr.message}`);
          // A refusal that will not change by retrying ends the first start with its reason.
          if (this.up !== undefined && err instanceof InselError && (err.code === 'INSEL_REJECTED' || err.code.startsWith('INSEL_CERT'))) {
            this.up(err);
            this.up = undefined;
            this.closed = true;
            return;
          }
        }
      }
      await this.sleep(this.backoff());
    }
    this.connecting = undefined;
  }

  private async dial(remote: { host: string; tcpPort: number }): Promise<{ socket: TLSSocket; viaProxy: boolean }> {
    const base = { host: remote.host, port: remote.tcpPort, identity: this.o.identity, alpn: [TUN_ALPN], noDelay: true, timeoutMs: this.o.handshakeTimeoutMs };
    try {
      return { socket: await connectTls(base), viaProxy: false };
    } catch (err) {
      const proxy = this.o.httpProxy;
      if (proxy === undefined) throw err;
      this.o.log.info(`direct TCP to ${remote.host}:${remote.tcpPort} failed (${(err as Error).message}); trying the HTTP proxy ${proxy.host}:${proxy.port}`);
      const raw = await connectViaProxy({ proxyHost: proxy.host, proxyPort: proxy.port, host: remote.host, port: remote.tcpPort, timeoutMs: this.o.handshakeTimeoutMs });
      return { socket: await connectTls({ ...base, socket: raw }), viaProxy: true };
    }
  }

  private async handshake(remote: { host: string; port: number; tcpPort: number }): Promise<void> {
    const { socket, viaProxy } = await this.dial(remote);
    const peer = peerLabel(socket);
    socket.pause();
    try {
      let server: Identity;
      try {
        server = verifyServer(socket, this.trust, peer, { roles: ['server'], name: remote.host, pin: (n) => `put the server's name in remote (remote ${n})` });
      } catch (err) {
        if (err instanceof InselError) sendReject(socket, err.code, `the client refused your certificate: ${err.message}`);
        throw err;
      }
      const nonceC = freshNonce();
      socket.write(
        encodeJson(TunFrame.HELLO, {
          v: TUN_VERSION,
          aeads: this.o.aeads,
          hashes: [...HASHES],
          nonce: nonceC.toString('hex'),
          ...(this.o.credentials === undefined ? {} : { user: this.o.credentials.user, password: this.o.credentials.password }),
        }),
      );
      const decoder = newTunDecoder();
      const reply = await readFrame(socket, decoder, this.o.handshakeTimeoutMs, 'tunnel ACCEPT');
      if (reply.type === TunFrame.REJECT) throw rejectionFrom(reply, `server ${server.name} (${peer})`);
      if (reply.type !== TunFrame.ACCEPT) throw new TunnelError('INSEL_TUNNEL_PROTOCOL', `server ${peer} sent frame type ${reply.type} instead of ACCEPT`, { peer });
      const accept = decodeAccept(reply.payload, peer);
      if (!(this.o.aeads as string[]).includes(accept.aead) || !(AEADS as readonly string[]).includes(accept.aead)) {
        throw new TunnelError('INSEL_TUNNEL_PROTOCOL', `server ${peer} chose ${accept.aead}, which we did not offer`, { peer });
      }
      const chains = udpChains(socket, accept.hash, nonceC, Buffer.from(accept.nonce, 'hex'), accept.channelId, 'client');
      await this.o.onAccept(accept, server.name);
      this.o.plane.addPeer(PEER, { recvId: accept.channelId, sendId: accept.channelId, aead: accept.aead, isDefault: true, follow: false });
      const keys = new PeerKeys(this.o.plane, PEER, chains.sendChain, chains.recvChain);
      keys.install(this.now());
      // Through a proxy the socket's far end is the proxy: UDP goes to the server's own address.
      const udpHost = viaProxy || socket.remoteAddress === undefined ? (await lookup(remote.host)).address : socket.remoteAddress;
      const ladder = new Ladder({
        clock: this.o.clock,
        udpTarget: `${udpHost}:${accept.udpPort}`,
        tcpTarget: peer,
        ...(this.o.httpProxy === undefined ? {} : { httpProxy: `${this.o.httpProxy.host}:${this.o.httpProxy.port}` }),
        udp: !this.o.tcpOnly,
        switchTo: (rung, why) => this.switchTo(rung, why),
        probeUdp: () => void this.sendKeepalive(true),
      });
      this.session = { socket, server, accept, keys, remote, viaProxy, udpHost, ladder, startedAt: this.now() };
      this.watch(socket, decoder);
      this.o.log.info(`connected to ${server.name} at ${peer}${viaProxy ? ' through the HTTP proxy' : ''}: ${[accept.ipv4?.address, accept.ipv6?.address].filter(Boolean).join(', ')}`);
      ladder.start();
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  private watch(socket: TLSSocket, decoder: ReturnType<typeof newTunDecoder>): void {
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      try {
        for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
          if (f.type === TunFrame.PACKET) this.o.plane.input(f.payload);
          else if (f.type === TunFrame.CLOSE) return this.drop(`the server closed the session: ${f.payload.toString('utf8').slice(0, 256)}`);
          else return this.drop(`the server sent frame type ${f.type}`);
        }
      } catch (err) {
        this.drop(`the server sent bytes we cannot read: ${(err as Error).message}`);
      }
    });
    socket.on('close', () => this.session?.socket === socket && this.drop('control connection closed'));
    socket.on('error', () => undefined);
    socket.resume();
  }
}

/** Whether this host (its network namespace) still has `address`; unknown counts as yes. */
function hasLocalAddress(address: string | undefined): boolean {
  if (address === undefined) return true;
  const plain = address.replace(/^::ffff:/, '');
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === plain));
}
