// sec_init / sec_accept: a TLS 1.3 listener that runs the connection phase
// for each client and hands out channels. A failed handshake never reaches
// accept(): it is reported as a 'handshakeError' event (and counted), and
// the client is told why.
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { ROLES, type Identity, type Role } from '../pki/identity.js';
import { trustFromPem, type Trust } from '../pki/trust.js';
import { peerChain, verifyPeer, verifyPeerChain } from '../pki/verify.js';
import type { SecChannel } from './channel.js';
import { resolveOptions, type ResolvedOptions, type SecOptions } from './config.js';
import { FrameType, PROTOCOL_VERSION } from './constants.js';
import { decodeControl, encodeControl, helloSchema, resumeSchema, type Accept } from './control.js';
import { ChannelError, DecodeError, NegotiationError } from './errors.js';
import { encodeFrame } from './frame.js';
import { freshNonce, newDecoder, paramsFrom, peerLabel, readFrame, rejectionFrom, sendReject, udpChains } from './handshake.js';
import { negotiate } from './negotiate.js';
import { TcpChannel } from './tcp-channel.js';
import { UdpChannel } from './udp-channel.js';
import { UdpEndpoint } from './udp-endpoint.js';
import { InselError } from '../errors.js';
import { TlsListener } from '../tls/listen.js';
import { serverContext } from '../tls/options.js';

export interface ServerOptions extends SecOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** TCP port of the connection phase (0: any free port). */
  port?: number;
}

export interface ServerStats {
  accepted: number;
  refused: number;
  /** TCP channels moved to a new TLS connection (rekey). */
  rekeyed: number;
  /** UDP datagrams that matched no channel, by reason. */
  udpDrops: Record<string, number>;
}

/** A channel closed because its peer's certificate chain no longer passes (see setTrust). */
export interface RefusedChannel {
  channel: SecChannel;
  /** The CertError code, e.g. INSEL_CERT_REVOKED. */
  code: string;
  /** What the peer was told. */
  reason: string;
}

export class SecServer extends EventEmitter {
  private readonly ready: SecChannel[] = [];
  private readonly waiters: { resolve: (c: SecChannel) => void; reject: (e: Error) => void }[] = [];
  private readonly counts = { accepted: 0, refused: 0, rekeyed: 0 };
  /** TCP channels by id, for RESUME (rekey). */
  private readonly tcpChannels = new Map<number, TcpChannel>();
  /** Channels past the connection phase and still open (accepted or waiting in `ready`): what setTrust re-verifies. */
  private readonly open = new Set<SecChannel>();
  private closed = false;
  private trust: Trust;
  /** The TLS listener; connections still in the connection phase are capped and closed at the handshake timeout. */
  private readonly tls: TlsListener;

  private constructor(
    private readonly opts: ResolvedOptions,
    private readonly roles: readonly Role[],
    private readonly udp: UdpEndpoint | undefined,
  ) {
    super();
    this.trust = trustFromPem(opts.identity.ca, opts.identity.crl);
    const unauth = { perSource: opts.unauthenticatedPerSource, total: opts.unauthenticatedTotal, timeoutMs: opts.handshakeTimeoutMs };
    this.tls = new TlsListener({
      identity: opts.identity,
      unauth,
      onGateClose: (why, source, port) => {
        const peer = `${source}:${port}`;
        this.refused(
          why === 'capped'
            ? new ChannelError('INSEL_UNAUTH_LIMIT', `connection from ${peer} closed at once: ${unauth.perSource} from ${source} or ${unauth.total} in all are still in their connection phase`, { peer })
            : new ChannelError('INSEL_HANDSHAKE_TIMEOUT', `connection from ${peer} closed: it was not authenticated within ${unauth.timeoutMs} ms`, { peer }),
        );
      },
      onTlsError: (err, _source, peer) => this.refused(new ChannelError('INSEL_CONNECT_FAILED', `TLS handshake with ${peer} failed: ${err.message}`, { peer, cause: err })),
    });
    this.tls.server.on('secureConnection', (s: TLSSocket) => void this.handshake(s));
  }

  /** sec_init: listens; for `udp`, also binds the UDP data port. */
  static async listen(options: ServerOptions): Promise<SecServer> {
    const { host = '127.0.0.1', port = 0, ...rest } = options;
    const opts = resolveOptions(rest, 'server options');
    const udp = opts.transport === 'udp' ? await UdpEndpoint.open(opts.udpHost ?? host, opts.udpPort, { tickMs: opts.tickMs, closeWhenEmpty: false }) : undefined;
    const server = new SecServer(opts, (opts.peerRoles as Role[] | undefined) ?? ROLES, udp);
    try {
      await server.tls.listen(port, host);
    } catch (err) {
      udp?.close();
      throw err;
    }
    return server;
  }

  get port(): number {
    return this.tls.port;
  }

  get udpPort(): number | undefined {
    return this.udp?.port;
  }

  /**
   * Replaces the CA and CRL (e.g. after `insel pki revoke`) and re-verifies
   * every open channel's peer chain under them: a channel whose peer is now
   * refused (its leaf or site CA revoked, a date passed) is closed at once,
   * the reason sent to the peer in CLOSE. Returns those channels.
   */
  setTrust(caPem: string, crlPem?: string): RefusedChannel[] {
    this.trust = trustFromPem(caPem, crlPem);
    const refused: RefusedChannel[] = [];
    for (const channel of [...this.open]) {
      const err = this.refusalOf(channel);
      if (err === undefined) continue;
      const reason = `your certificate is no longer accepted: ${err.message}`;
      refused.push({ channel, code: err.code, reason });
      void channel.close(reason).catch(() => undefined);
    }
    return refused;
  }

  /** New connection phases present this certificate (a renewal onto a new root); open channels keep theirs. Then setTrust. */
  setIdentity(identity: ResolvedOptions['identity']): void {
    this.tls.server.setSecureContext(serverContext({ identity }));
  }

  stats(): ServerStats {
    return { ...this.counts, udpDrops: { ...(this.udp?.drops ?? {}) } };
  }

  /** sec_accept: the next channel whose connection phase succeeded. */
  accept(): Promise<SecChannel> {
    const c = this.ready.shift();
    if (c) return Promise.resolve(c);
    if (this.closed) return Promise.reject(new ChannelError('INSEL_CHANNEL_CLOSED', 'server is closed'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Stops listening; open channels stay up until they close (the UDP port with them). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new ChannelError('INSEL_CHANNEL_CLOSED', 'server is closed'));
    await this.tls.close();
    this.udp?.close();
  }

  private async handshake(socket: TLSSocket): Promise<void> {
    const peer = peerLabel(socket);
    socket.on('error', () => undefined); // reported through readFrame or the channel
    socket.pause();
    let identity: Identity;
    // A reload while the connection phase runs is caught by comparing trusts before delivery.
    const trust = this.trust;
    try {
      identity = verifyPeer(socket, trust, this.roles, peer);
    } catch (err) {
      // Told at once, before any HELLO is read; closed when it has read that (the gate's linger at most).
      if (err instanceof InselError) sendReject(socket, err.code, `your certificate was refused: ${err.message}`);
      socket.resume(); // drop what it sends, so that its FIN closes the socket
      this.tls.refused(socket);
      return this.refused(err);
    }
    // Authenticated: from here readFrame's deadline bounds the wait for HELLO.
    this.tls.passed(socket);
    const decoder = newDecoder();
    try {
      const first = await readFrame(socket, decoder, this.opts.handshakeTimeoutMs, 'HELLO');
      if (first.type === FrameType.REJECT) throw rejectionFrom(first, `client ${peer}`);
      if (first.type === FrameType.RESUME) return this.resume(socket, decoder, first.payload, identity, peer);
      if (first.type !== FrameType.HELLO) throw new DecodeError(`client ${peer} sent frame type ${first.type} instead of HELLO`, { peer });
      const hello = decodeControl(helloSchema, first.payload, `HELLO from ${peer}`);
      if (hello.transport !== this.opts.transport) {
        throw this.refuse(socket, new NegotiationError('INSEL_NO_COMMON_CHOICE', `client ${peer} asked for a ${hello.transport} channel; this server offers ${this.opts.transport} channels only`, { peer }));
      }
      let choice;
      try {
        choice = negotiate(hello, this.opts, `client ${identity.name} (${peer})`);
      } catch (err) {
        throw this.refuse(socket, err as NegotiationError);
      }
      const nonceS = freshNonce();
      const accept: Accept = {
        v: PROTOCOL_VERSION,
        ...choice,
        nonce: nonceS.toString('hex'),
        maxFrame: Math.min(hello.maxFrame, this.opts.maxFrame),
        maxMessage: Math.min(hello.maxMessage, this.opts.maxMessage),
        datagramSize: Math.min(hello.datagramSize, this.opts.datagramSize),
      };
      accept.channelId = this.freeChannelId();
      if (this.udp === undefined) {
        socket.write(encodeFrame(FrameType.ACCEPT, 0, encodeControl(accept)));
        const ch = new TcpChannel({ socket, decoder: decoder.withLimit(accept.maxFrame) }, identity, paramsFrom(accept, 'tcp', socket), {
          ...this.opts,
          channelId: accept.channelId,
          peerChain: peerChain(socket),
        });
        this.tcpChannels.set(accept.channelId, ch);
        ch.once('close', () => this.tcpChannels.delete(accept.channelId!));
        return this.deliverChecked(ch, trust);
      }
      accept.udpPort = this.udp.port;
      const keys = udpChains(socket, choice.hash, Buffer.from(hello.nonce, 'hex'), nonceS, accept.channelId, 'server');
      const ch = new UdpChannel({ endpoint: this.udp, role: 'server', channelId: accept.channelId, peerChain: peerChain(socket), ...keys }, identity, paramsFrom(accept, 'udp', socket), this.opts);
      socket.end(encodeFrame(FrameType.ACCEPT, 0, encodeControl(accept)));
      const timer = setTimeout(() => void ch.close(), this.opts.handshakeTimeoutMs);
      await ch.whenEstablished();
      clearTimeout(timer);
      if (ch.isClosed) throw new ChannelError('INSEL_UDP_UNREACHABLE', `client ${identity.name} (${peer}) never reached UDP port ${accept.udpPort} within ${this.opts.handshakeTimeoutMs} ms`, { peer });
      this.deliverChecked(ch, trust);
    } catch (err) {
      // Bytes we cannot read (a bad frame, HELLO or RESUME, or another frame first): the client is told why (PROTOCOL §2).
      if (err instanceof DecodeError) sendReject(socket, err.code, `the server could not read your connection phase: ${err.message}`);
      socket.destroySoon();
      this.refused(err);
    }
  }

  /** A client moves channel N to this new TLS connection (TCP rekey). */
  private resume(socket: TLSSocket, decoder: ReturnType<typeof newDecoder>, payload: Buffer, identity: Identity, peer: string): void {
    const r = decodeControl(resumeSchema, payload, `RESUME from ${peer}`);
    const ch = this.tcpChannels.get(r.channelId);
    const why = ch === undefined ? `no open TCP channel ${r.channelId}` : ch.resumeOn({ socket, decoder }, r, identity);
    if (why !== undefined) {
      sendReject(socket, 'INSEL_RESUME_REFUSED', why);
      throw new ChannelError('INSEL_CONNECT_FAILED', `RESUME from ${identity.name} (${peer}) refused: ${why}`, { peer });
    }
    this.counts.rekeyed++;
  }

  private refuse(socket: TLSSocket, err: NegotiationError): NegotiationError {
    sendReject(socket, err.code, err.message);
    return err;
  }

  private refused(err: unknown): void {
    this.counts.refused++;
    this.emit('handshakeError', err);
  }

  /** Why `ch`'s peer is refused under the current trust, or undefined if it still passes. */
  private refusalOf(ch: SecChannel): InselError | undefined {
    try {
      verifyPeerChain(ch.peerChain, this.trust, this.roles, ch.remote);
      return undefined;
    } catch (err) {
      if (err instanceof InselError) return err;
      throw err;
    }
  }

  /** Delivers `ch`, verified under `trust`; if the trust changed since (a reload mid-handshake), verifies it again under the new one. */
  private deliverChecked(ch: SecChannel, trust: Trust): void {
    const late = this.trust === trust ? undefined : this.refusalOf(ch);
    if (late !== undefined) {
      void ch.close(`your certificate is no longer accepted: ${late.message}`);
      throw late;
    }
    this.deliverChannel(ch);
  }

  private deliverChannel(ch: SecChannel): void {
    this.counts.accepted++;
    this.open.add(ch);
    ch.once('close', () => {
      this.open.delete(ch);
      const waiting = this.ready.indexOf(ch);
      if (waiting >= 0) this.ready.splice(waiting, 1); // closed before anyone accepted it
    });
    const w = this.waiters.shift();
    if (w) w.resolve(ch);
    else this.ready.push(ch);
  }

  private freeChannelId(): number {
    for (;;) {
      const id = randomInt(1, 0xffffffff);
      if (!this.tcpChannels.has(id) && !this.udp?.has(id)) return id;
    }
  }
}
