// The client end of one SOCKS5 UDP association (RFC 1928 §7): a local UDP
// relay socket for the SOCKS client, and one ASSOCIATE flow on a SecSockets
// UDP channel of its own to the gateway. A datagram's SOCKS header minus
// RSV/FRAG is exactly the flow's addressed DATA body (src/udpflow/wire.ts),
// so each datagram goes through as a view, never re-encoded; replies get
// RSV/FRAG back in front (two buffers to one send, no copy).
//
// Local → gateway:  datagram from the SOCKS client → header check (FRAG ≠ 0: dropped, counted)
//                   → DATA on the association's flow → one packet on the channel
// Gateway → local:  DATA (source address + datagram) → 00 00 00 + it, to the SOCKS client
//                   DEST_DENIED: logged (the gateway sends one per destination)
//                   CLOSE, or the channel gone: the association ends (and its TCP connection)
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { SecChannel } from '../secsock/channel.js';
import { literalLookup } from '../secsock/datagram-socket.js';
import type { UdpChannel } from '../secsock/udp-channel.js';
import { ForwardError } from '../forward/errors.js';
import { checkUdp } from '../udpflow/local.js';
import { FlowSender } from '../udpflow/sender.js';
import { encodeAssociate, encodeClose, FlowType, readFlowMessage } from '../udpflow/wire.js';
import { UDP_HEADER_FIXED } from './udp-header.js';

export interface AssociationStats {
  /** Datagrams from the SOCKS client sent on to the gateway. */
  datagramsIn: number;
  /** Datagrams back to the SOCKS client. */
  datagramsOut: number;
  /** Datagrams that went nowhere: a stranger's, malformed, no room on the channel. */
  dropped: number;
  /** Datagrams with FRAG ≠ 0 (we do not reassemble), dropped. */
  fragments: number;
  /** Destinations the gateway refused. */
  destinationsDenied: number;
}

export interface UdpAssociationOptions {
  /** The -D listener's bind address: the relay socket listens there too. */
  bind: string;
  /** The SOCKS client as its TCP connection came from, and the port of its request (0: unknown, the first datagram's). */
  client: { address: string; port: number };
  /** The SecSockets UDP channel to the gateway, being opened: the association's own. */
  channel: Promise<SecChannel>;
  /** Refusals and the end (always shown). */
  log: (line: string) => void;
  /** -v lines. */
  verbose: (line: string) => void;
}

const FLOW = 1;
const OPEN_RETRY_MS = 250;
const OPEN_TRIES = 8;
/** The relay socket's kernel buffers for bursts; capped at rmem_max/wmem_max. */
const SOCKET_BUFFER = 4 * 1024 * 1024;
/** RSV RSV FRAG of every datagram back to the client. */
const REPLY_PREFIX = Buffer.alloc(UDP_HEADER_FIXED);

export class UdpAssociation {
  /** Resolves with why the association ended (the gateway closed it, the channel died, close()). */
  readonly ended: Promise<string>;
  private end!: (why: string) => void;
  private readonly counts: AssociationStats = { datagramsIn: 0, datagramsOut: 0, dropped: 0, fragments: 0, destinationsDenied: 0 };
  private clientPort: number;
  private fragmentSeen = false;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly out: FlowSender,
    private readonly opts: UdpAssociationOptions,
  ) {
    this.clientPort = opts.client.port;
    this.ended = new Promise((resolve) => (this.end = resolve));
  }

  /** Binds the relay socket, opens the channel and the ASSOCIATE flow; rejects if any fails (nothing is left open). */
  static async start(opts: UdpAssociationOptions): Promise<UdpAssociation> {
    let socket: Socket;
    try {
      socket = await bindRelay(opts.bind);
    } catch (err) {
      void opts.channel.then((ch) => ch.close('association not opened'), () => undefined);
      throw err;
    }
    let ch: UdpChannel | undefined;
    try {
      ch = checkUdp(await opts.channel);
      const out = new FlowSender(ch, () => undefined);
      await associateFlow(ch, out);
      const a = new UdpAssociation(socket, out, opts);
      a.wire();
      return a;
    } catch (err) {
      socket.close();
      if (ch !== undefined) void ch.close('association refused').catch(() => undefined);
      throw err;
    }
  }

  get address(): string {
    return this.socket.address().address;
  }

  get port(): number {
    return this.socket.address().port;
  }

  stats(): AssociationStats {
    return { ...this.counts };
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.out.message(encodeClose(FLOW, why));
    void this.out.ch.close(why).catch(() => undefined);
    this.socket.close();
    this.end(why);
  }

  private wire(): void {
    const ch = this.out.ch;
    ch.once('close', (err?: Error) => this.close(err?.message ?? `the gateway closed the channel${ch.peerCloseReason ? `: ${ch.peerCloseReason}` : ''}`));
    ch.deliverTo((m) => this.onGateway(m));
    this.socket.on('message', (msg: Buffer, from: RemoteInfo) => this.onLocal(msg, from));
    // After bind, errors are per datagram (the client went away): count, never crash.
    this.socket.on('error', () => void this.counts.dropped++);
  }

  private onLocal(msg: Buffer, from: RemoteInfo): void {
    // Only the client of this association's TCP connection may use it (RFC 1928 §7).
    if (from.address !== this.opts.client.address || (this.clientPort !== 0 && from.port !== this.clientPort)) {
      this.counts.dropped++;
      return;
    }
    this.clientPort = from.port;
    // Only RSV and FRAG are ours to check: the address behind them is the
    // gateway's to parse (it must anyway), so nothing is decoded or allocated here.
    if (msg.length < UDP_HEADER_FIXED + 1 || msg[0] !== 0 || msg[1] !== 0) {
      this.counts.dropped++;
      return;
    }
    const frag = msg[2]!;
    if (frag !== 0) {
      this.counts.fragments++;
      if (!this.fragmentSeen) this.opts.log(`dropping fragmented datagrams (FRAG ${frag}): fragments are not reassembled; this is counted, not logged again`);
      this.fragmentSeen = true;
      return;
    }
    this.counts.datagramsIn++;
    this.out.data(FLOW, msg.subarray(UDP_HEADER_FIXED));
  }

  private onGateway(buf: Buffer): void {
    const m = readFlowMessage(buf);
    if (m === undefined || m.flow !== FLOW) {
      this.counts.dropped++;
      return;
    }
    switch (m.type) {
      case FlowType.DATA:
        if (this.clientPort === 0) {
          this.counts.dropped++; // no datagram from the client yet: nowhere to send it
          return;
        }
        this.counts.datagramsOut++;
        this.socket.send([REPLY_PREFIX, m.body], this.clientPort, this.opts.client.address);
        return;
      case FlowType.DEST_DENIED:
        this.counts.destinationsDenied++;
        this.opts.log(`denied by the gateway: ${m.reason}`);
        return;
      case FlowType.CLOSE:
        return this.close(`the gateway closed the association${m.reason ? `: ${m.reason}` : ''}`);
      default:
        return; // a repeated OPENED
    }
  }
}

/** Sends ASSOCIATE until OPENED or DENIED (the channel may lose either), then stops listening for them. */
function associateFlow(ch: UdpChannel, out: FlowSender): Promise<void> {
  return new Promise((resolve, reject) => {
    let tries = 0;
    const send = () => {
      if (tries++ >= OPEN_TRIES) return done(new ForwardError('INSEL_GATEWAY', `the gateway did not answer the UDP association after ${OPEN_TRIES} tries`));
      out.message(encodeAssociate(FLOW));
    };
    const timer = setInterval(send, OPEN_RETRY_MS);
    const done = (err?: Error) => {
      clearInterval(timer);
      ch.deliverTo(() => undefined);
      ch.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onClose = () => done(new ForwardError('INSEL_GATEWAY', `the channel to the gateway closed before the association was open${ch.peerCloseReason ? `: ${ch.peerCloseReason}` : ''}`));
    ch.once('close', onClose);
    ch.deliverTo((buf) => {
      const m = readFlowMessage(buf);
      if (m?.type === FlowType.OPENED && m.flow === FLOW) done();
      else if (m?.type === FlowType.DENIED && m.flow === FLOW) done(new ForwardError('INSEL_GATEWAY', `the gateway refused the UDP association: ${m.reason}`));
    });
    send();
  });
}

function bindRelay(bind: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // Replies go to the address the kernel gave us: an IP literal, sent without a lookup.
    const s = createSocket({ type: isIPv6(bind) ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER, lookup: literalLookup as never });
    s.once('error', (err) => {
      s.close();
      reject(new ForwardError('INSEL_FORWARD_BIND', `cannot open a UDP relay on ${bind}: ${err.message}`, { peer: bind, cause: err }));
    });
    s.bind(0, bind, () => {
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}
