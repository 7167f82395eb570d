// sec_connect: TLS 1.3 with our certificate, check the server's, offer our
// lists, and build the channel the server accepted. For `udp` the TLS
// connection ends after ACCEPT and the channel proves the UDP path (hello,
// answer) before it is returned.
import type { TLSSocket } from 'node:tls';
import type { Role } from '../pki/identity.js';
import type { Hash } from './algorithms.js';
import { staleCrlError, staleRootCrl, trustFromPem } from '../pki/trust.js';
import { verifyPeer } from '../pki/verify.js';
import { InselError } from '../errors.js';
import { connectTls } from '../tls/connect.js';
import { TlsError } from '../tls/errors.js';
import { verifyServer } from '../tls/verify.js';
import type { SecChannel } from './channel.js';
import { resolveOptions, type ResolvedOptions, type SecOptions } from './config.js';
import { FrameType } from './constants.js';
import { acceptSchema, decodeControl, encodeControl, type Accept } from './control.js';
import { ChannelError, NegotiationError } from './errors.js';
import { encodeFrame } from './frame.js';
import { freshNonce, helloFrom, newDecoder, paramsFrom, peerLabel, readFrame, rejectionFrom, sendReject, udpChains } from './handshake.js';
import { TcpChannel } from './tcp-channel.js';
import { UdpChannel } from './udp-channel.js';
import { UdpEndpoint } from './udp-endpoint.js';

export interface ConnectOptions extends SecOptions {
  host: string;
  port: number;
}

const DEFAULT_SERVER_ROLES: readonly Role[] = ['hq', 'site', 'server'];

export async function connect(options: ConnectOptions): Promise<SecChannel> {
  const { host, port, ...rest } = options;
  const opts = resolveOptions(rest, 'connect options');
  const trust = trustFromPem(opts.identity.ca, opts.identity.crl);
  const now = new Date();
  const stale = staleRootCrl(trust, now);
  if (stale && !opts.allowStaleCrl) throw staleCrlError(stale, now, 'refresh it (insel pki crl, then copy crl.pem), or set allowStaleCrl to accept it');
  const socket = await openTls(host, port, opts);
  const peer = peerLabel(socket);
  const roles = (opts.peerRoles as Role[] | undefined) ?? DEFAULT_SERVER_ROLES;
  try {
    let identity;
    try {
      const name = opts.serverName === undefined ? {} : { name: opts.serverName };
      identity = verifyServer(socket, trust, peer, { roles, ...name, pin: (n) => `set serverName to ${n}` });
    } catch (err) {
      if (err instanceof InselError) sendReject(socket, err.code, `the client refused your certificate: ${err.message}`);
      throw err;
    }
    const nonceC = freshNonce();
    socket.write(encodeFrame(FrameType.HELLO, 0, encodeControl(helloFrom(opts, nonceC))));
    const decoder = newDecoder();
    const reply = await readFrame(socket, decoder, opts.handshakeTimeoutMs, 'ACCEPT');
    if (reply.type === FrameType.REJECT) throw rejectionFrom(reply, `server ${identity.name} (${peer})`);
    if (reply.type !== FrameType.ACCEPT) throw new ChannelError('INSEL_CONNECT_FAILED', `server ${peer} sent frame type ${reply.type} instead of ACCEPT`, { peer });
    const accept = decodeControl(acceptSchema, reply.payload, `ACCEPT from ${peer}`);
    checkAccept(accept, opts, peer);
    const params = paramsFrom(accept, opts.transport, socket);
    if (accept.channelId === undefined || (opts.transport === 'udp' && accept.udpPort === undefined)) {
      throw new ChannelError('INSEL_CONNECT_FAILED', `server ${peer} accepted a ${opts.transport} channel without a channel id or UDP port`, { peer });
    }
    if (opts.transport === 'tcp') {
      const server = identity;
      // Rekey dials the same server again and insists on the same identity.
      const dial = async () => {
        const s = await openTls(host, port, opts);
        try {
          const again = verifyPeer(s, trust, roles, peer);
          if (again.name !== server.name || again.role !== server.role || again.org !== server.org) {
            throw new ChannelError('INSEL_CONNECT_FAILED', `rekey reached ${again.role} ${again.name} instead of ${server.role} ${server.name}`, { peer });
          }
          return s;
        } catch (err) {
          s.destroy();
          throw err;
        }
      };
      return new TcpChannel({ socket, decoder: decoder.withLimit(accept.maxFrame) }, identity, params, { ...opts, channelId: accept.channelId, dial });
    }

    const keys = udpChains(socket, accept.hash as Hash, nonceC, Buffer.from(accept.nonce, 'hex'), accept.channelId, 'client');
    socket.end();
    const remote = socket.remoteAddress!;
    const family6 = socket.remoteFamily === 'IPv6';
    const endpoint = await UdpEndpoint.open(opts.udpHost ?? (family6 ? '::' : '0.0.0.0'), opts.udpPort, opts.tickMs, true);
    const ch = new UdpChannel({ endpoint, role: 'client', channelId: accept.channelId, peerAddress: remote, peerPort: accept.udpPort!, ...keys }, identity, params, opts);
    ch.sayHello();
    const timer = setTimeout(() => void ch.close(), opts.handshakeTimeoutMs);
    await ch.whenEstablished();
    clearTimeout(timer);
    if (ch.isClosed) {
      throw new ChannelError('INSEL_UDP_UNREACHABLE', `no answer from UDP port ${accept.udpPort} of ${remote} within ${opts.handshakeTimeoutMs} ms: is UDP blocked between us?`, { peer });
    }
    return ch;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** A TLS connection to the server, handshake done; failures as ChannelError naming it. */
async function openTls(host: string, port: number, opts: ResolvedOptions): Promise<TLSSocket> {
  try {
    const socket = await connectTls({ host, port, identity: opts.identity, timeoutMs: opts.handshakeTimeoutMs });
    socket.pause();
    return socket;
  } catch (err) {
    if (!(err instanceof TlsError)) throw err;
    const code = err.code === 'INSEL_TLS_TIMEOUT' ? 'INSEL_HANDSHAKE_TIMEOUT' : 'INSEL_CONNECT_FAILED';
    throw new ChannelError(code, `cannot connect to ${err.peer}: ${err.reason}`, { peer: err.peer!, cause: err });
  }
}

/** The server must have picked from what we offered, within our limits. */
function checkAccept(a: Accept, o: ResolvedOptions, peer: string): void {
  const bad =
    !(o.aeads as string[]).includes(a.aead) ||
    !(o.hashes as string[]).includes(a.hash) ||
    !(o.compressions as string[]).includes(a.compression) ||
    !(o.modes as string[]).includes(a.mode) ||
    a.maxFrame > o.maxFrame ||
    a.maxMessage > o.maxMessage ||
    a.datagramSize > o.datagramSize;
  if (bad) {
    throw new NegotiationError('INSEL_BAD_OFFER', `server ${peer} chose ${a.aead}/${a.hash}/${a.compression}/${a.mode} (frame ${a.maxFrame}, message ${a.maxMessage}, datagram ${a.datagramSize}), which we did not offer`, { peer });
  }
}
