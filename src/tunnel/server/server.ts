// CA (server) mode: a TLS 1.3 listener for the control connections
// (wire.ts) and, through the data plane, the UDP port. Each verified client
// gets an address from the pool (the same for the same identity), a channel
// id, keys exported from its TLS session, and a peer in the plane whose
// addresses it may use as sources and nothing else. setTrust re-verifies
// every session (SIGHUP after a CRL update): a revoked client is cut at once.
import { randomInt } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { scopedName, type Identity, type Role } from '../../pki/identity.js';
import type { IdentityPem } from '../../pki/profile.js';
import { trustFromPem, type Trust } from '../../pki/trust.js';
import { peerChain, verifyPeer, verifyPeerChain } from '../../pki/verify.js';
import { HASHES, type Aead } from '../../secsock/algorithms.js';
import { InnerKind } from '../../secsock/constants.js';
import { freshNonce, peerLabel, readFrame, rejectionFrom, sendReject, udpChains } from '../../secsock/handshake.js';
import { negotiate } from '../../secsock/negotiate.js';
import { InselError } from '../../errors.js';
import { TlsListener } from '../../tls/listen.js';
import type { UnauthLimits } from '../../net/unauth-gate.js';
import { SummaryLog } from '../../net/summary-log.js';
import type { Plane } from '../../tun/plane.js';
import type { TunnelLog } from '../log.js';
import { PeerKeys } from '../peer-keys.js';
import { ackFor } from '../client/probe.js';
import { ServerSession } from './server-session.js';
import { TUN_ALPN, TUN_VERSION, TunFrame, decodeHello, encodeJson, newTunDecoder, type PushedRoute, type TunAccept } from '../wire.js';
import { TunnelError } from '../errors.js';

const CLIENT_ROLES: readonly Role[] = ['client', 'user'];
/** Connections of one identity past TLS but not yet a session (HELLO, password check): more are refused. */
export const MAX_PENDING_PER_IDENTITY = 4;

export interface AddressPool {
  lease(key: string): { ipv4?: string; ipv6?: string };
  release(key: string): void;
}

/** undefined: accepted; otherwise the reason the client is told. */
export type PasswordCheck = (user: string, password: string, who: { commonName: string; ip: string; port: number }) => Promise<string | undefined>;

export interface TunnelServerOptions {
  plane: Plane;
  identity: IdentityPem;
  host: string;
  tcpPort: number;
  /** the plane's UDP port, told to clients */
  udpPort: number;
  pool: AddressPool;
  checkPassword?: PasswordCheck;
  ipv4?: { gateway: string; prefix: number };
  ipv6?: { gateway: string; prefix: number };
  routes: PushedRoute[];
  redirectGateway: boolean;
  mtu: number;
  keepaliveS: [number, number];
  aeads: Aead[];
  maxClients: number;
  handshakeTimeoutMs: number;
  unauth: UnauthLimits;
  log: TunnelLog;
  now: () => number;
}

export class TunnelServer {
  private readonly sessions = new Map<number, ServerSession>();
  private readonly byIdentity = new Map<string, ServerSession>();
  private readonly pending = new Map<string, number>();
  private readonly tls: TlsListener;
  private trust: Trust;
  /** Anyone can make us refuse a connection: those are counted and logged as one line per interval, never one each. */
  private readonly unauthLog: SummaryLog;

  constructor(private readonly o: TunnelServerOptions) {
    this.trust = trustFromPem(o.identity.ca, o.identity.crl);
    this.unauthLog = new SummaryLog({ warn: (fields, msg) => o.log.warn(`${msg}: ${JSON.stringify(fields)}`) }, 'unauthenticated connections closed');
    this.tls = new TlsListener({
      identity: o.identity,
      alpn: [TUN_ALPN],
      noDelay: true,
      unauth: o.unauth,
      onGateClose: (why, source) => this.unauthLog.count(why, source),
      onTlsError: (err, source) => this.unauthLog.count('tlsFailed', source, (err as NodeJS.ErrnoException).code ?? err.message),
    });
    this.tls.server.on('secureConnection', (s: TLSSocket) => void this.connect(s));
    const p = o.plane;
    p.on('tcp', (id: number, datagram: Buffer) => this.sessions.get(id)?.writePacket(datagram));
    p.on('promoted', (id: number) => this.sessions.get(id)?.keys.promoted(o.now()));
    p.on('path', (id: number, from: string) => {
      const s = this.sessions.get(id);
      if (s === undefined) return;
      s.pathLog.change(from);
      s.real = from;
    });
    p.on('control', (id: number, kind: number, body: Buffer, from: string) => this.control(id, kind, body, from));
  }

  listen(): Promise<void> {
    return this.tls.listen(this.o.tcpPort, this.o.host);
  }

  get tcpPort(): number {
    return this.tls.port;
  }

  get clients(): readonly ServerSession[] {
    return [...this.sessions.values()];
  }

  /** New CA/CRL: every session is verified again; those that fail are cut with the reason. Returns how many. */
  setTrust(caPem: string, crlPem?: string): number {
    this.trust = trustFromPem(caPem, crlPem);
    let cut = 0;
    for (const s of [...this.sessions.values()]) {
      try {
        verifyPeerChain(s.info.chain, this.trust, CLIENT_ROLES, s.info.tlsPeer);
      } catch (err) {
        cut++;
        s.close(`your certificate is no longer accepted: ${(err as Error).message}`, true);
      }
    }
    return cut;
  }

  tick(): void {
    const now = this.o.now();
    // Clients send the keepalives (every interval, and probes of their own) and we answer each:
    // an answer then proves to a client that its UDP path works both ways.
    const timeout = this.o.keepaliveS[1];
    for (const s of [...this.sessions.values()]) {
      const st = this.o.plane.stats(s.id);
      if (st === undefined) continue;
      s.keys.tick(now, st.sendCounter);
      const idle = st.lastRxMs < 0 ? now - s.info.startedAt : st.lastRxMs;
      if (idle > timeout * 1000) s.close(`nothing from you for ${timeout} s (keepalive timeout)`, true);
    }
  }

  async close(reason = 'server shutting down'): Promise<void> {
    for (const s of [...this.sessions.values()]) s.close(reason, true);
    await this.tls.close();
    this.unauthLog.flush();
  }

  private control(id: number, kind: number, body: Buffer, from: string): void {
    const s = this.sessions.get(id);
    if (s === undefined) return;
    const viaUdp = from !== 'tcp';
    if (kind === InnerKind.KEEPALIVE && viaUdp) {
      // Answered over UDP: a client on UDP learns its path works, one on the TCP rung that UDP works again.
      this.o.plane.sendControl(id, InnerKind.KEEPALIVE, Buffer.alloc(0), 0, true);
    } else if (kind === InnerKind.PROBE) {
      try {
        this.o.plane.sendControl(id, InnerKind.PROBE_ACK, ackFor(body), 0, viaUdp);
      } catch (err) {
        this.o.log.debug(`${s.info.key}: bad probe: ${(err as Error).message}`);
      }
    } else if (kind === InnerKind.CLOSE) {
      s.close(`client closed: ${body.toString('utf8').slice(0, 256)}`, false);
    }
  }

  private async connect(socket: TLSSocket): Promise<void> {
    const peer = peerLabel(socket);
    socket.on('error', () => undefined);
    socket.pause();
    const trust = this.trust;
    let identity: Identity;
    try {
      identity = verifyPeer(socket, trust, CLIENT_ROLES, peer);
    } catch (err) {
      if (err instanceof InselError) sendReject(socket, err.code, `your certificate was refused: ${err.message}`);
      socket.resume();
      this.tls.refused(socket);
      this.unauthLog.count('refused', socket.remoteAddress ?? 'unknown', err instanceof InselError ? err.code : 'INSEL_CERT_INVALID');
      return;
    }
    this.tls.passed(socket);
    const decoder = newTunDecoder();
    const key = scopedName(identity);
    const who = `${key} (${peer})`;
    // Off the unauthenticated gate now: this cap bounds what one certificate holder makes us hold before a session.
    const waiting = this.pending.get(key) ?? 0;
    if (waiting < MAX_PENDING_PER_IDENTITY) this.pending.set(key, waiting + 1);
    try {
      if (waiting >= MAX_PENDING_PER_IDENTITY) {
        throw new TunnelError('INSEL_TUNNEL_FULL', `${who} already has ${waiting} connections in their handshake, the most one identity may have; finish or close them first`);
      }
      const first = await readFrame(socket, decoder, this.o.handshakeTimeoutMs, 'tunnel HELLO');
      // The client refused us (our certificate, as a rule): its reason is what the operator needs to read.
      if (first.type === TunFrame.REJECT) throw rejectionFrom(first, `client ${who}`);
      if (first.type !== TunFrame.HELLO) throw new TunnelError('INSEL_TUNNEL_PROTOCOL', `${who} sent frame type ${first.type} instead of HELLO`);
      const hello = decodeHello(first.payload, peer);
      await this.authenticate(hello.user, hello.password, identity, socket, who);
      const choice = negotiate(
        { aeads: hello.aeads, hashes: hello.hashes, compressions: ['none'], modes: ['private'] },
        { aeads: this.o.aeads, hashes: HASHES, compressions: ['none'], modes: ['private'] },
        who,
      );
      if (this.trust !== trust) verifyPeerChain(peerChain(socket), this.trust, CLIENT_ROLES, peer); // a reload while we waited
      const old = this.byIdentity.get(key);
      if (old === undefined && this.sessions.size >= this.o.maxClients) {
        throw new TunnelError('INSEL_TUNNEL_FULL', `the server has its maximum of ${this.o.maxClients} clients (max-clients); try again later`);
      }
      old?.close('replaced by a new connection of the same identity', true);
      const lease = this.o.pool.lease(key);
      const id = this.freeId();
      let keys: PeerKeys;
      try {
        const nonceS = freshNonce();
        const chains = udpChains(socket, choice.hash, Buffer.from(hello.nonce, 'hex'), nonceS, id, 'server');
        this.o.plane.addPeer(id, {
          recvId: id,
          sendId: id,
          aead: choice.aead,
          follow: true,
          ...(lease.ipv4 === undefined ? {} : { vip4: lease.ipv4 }),
          ...(lease.ipv6 === undefined ? {} : { vip6: lease.ipv6 }),
        });
        this.o.plane.setPath(id, 'tcp'); // until its first UDP datagram arrives
        keys = new PeerKeys(this.o.plane, id, chains.sendChain, chains.recvChain);
        keys.install(this.o.now());
        socket.write(encodeJson(TunFrame.ACCEPT, this.acceptFor(choice.aead, choice.hash, nonceS, id, lease)));
      } catch (err) {
        // Nothing of this session may outlive it: not the plane peer, not the lease.
        this.o.plane.removePeer(id);
        this.o.pool.release(key);
        throw err;
      }
      const info = { id, identity, key, chain: peerChain(socket), tlsPeer: peer, startedAt: this.o.now(), ...lease };
      const session = new ServerSession(info, socket, decoder, this.o.plane, keys, (s, why) => this.ended(s, why), (line) => this.o.log.info(line));
      this.sessions.set(id, session);
      this.byIdentity.set(key, session);
      this.o.log.info(`${who} connected: ${[lease.ipv4, lease.ipv6].filter(Boolean).join(', ')} (${choice.aead}, channel ${id})`);
    } catch (err) {
      const e = err as InselError;
      const theirs = e.code === 'INSEL_REJECTED';
      this.o.log.info(theirs ? e.message : `refused ${who}: ${e.message}`);
      if (e.code !== undefined && !theirs && !socket.destroyed) sendReject(socket, e.code, e.message);
      socket.destroySoon();
    } finally {
      if (waiting < MAX_PENDING_PER_IDENTITY) {
        const n = this.pending.get(key)! - 1;
        if (n === 0) this.pending.delete(key);
        else this.pending.set(key, n);
      }
    }
  }

  private async authenticate(user: string | undefined, password: string | undefined, identity: Identity, socket: TLSSocket, who: string): Promise<void> {
    if (this.o.checkPassword === undefined) return;
    if (user === undefined || password === undefined) {
      throw new TunnelError('INSEL_TUNNEL_AUTH', `this server also wants a username and password: set auth-user-pass FILE in the client's config`);
    }
    const why = await this.o.checkPassword(user, password, { commonName: identity.name, ip: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 });
    if (why !== undefined) throw new TunnelError('INSEL_TUNNEL_AUTH', `username/password refused for ${who}: ${why}`);
  }

  private acceptFor(aead: Aead, hash: TunAccept['hash'], nonce: Buffer, id: number, lease: { ipv4?: string; ipv6?: string }): TunAccept {
    const o = this.o;
    return {
      v: TUN_VERSION,
      aead,
      hash,
      nonce: nonce.toString('hex'),
      channelId: id,
      udpPort: o.udpPort,
      mtu: o.mtu,
      keepalive: o.keepaliveS,
      ...(lease.ipv4 !== undefined && o.ipv4 !== undefined ? { ipv4: { address: lease.ipv4, ...o.ipv4 } } : {}),
      ...(lease.ipv6 !== undefined && o.ipv6 !== undefined ? { ipv6: { address: lease.ipv6, ...o.ipv6 } } : {}),
      routes: o.routes,
      redirectGateway: o.redirectGateway,
    };
  }

  private ended(s: ServerSession, why: string): void {
    this.sessions.delete(s.id);
    if (this.byIdentity.get(s.info.key) === s) this.byIdentity.delete(s.info.key);
    this.o.pool.release(s.info.key);
    this.o.log.info(`${s.info.key} (${s.info.tlsPeer}) disconnected: ${why}`);
  }

  private freeId(): number {
    for (;;) {
      const id = randomInt(1, 0xffffffff);
      if (!this.sessions.has(id)) return id;
    }
  }
}
