// One client of a CA-mode server: its TLS control connection, its peer in
// the data plane, its keys and its pool addresses. The connection carries
// PACKET frames while the client is on the TCP rung; it closing, a CLOSE, a
// keepalive timeout, a revocation or a replacing connection ends it all.
import type { TLSSocket } from 'node:tls';
import type { Identity } from '../../pki/identity.js';
import { InnerKind } from '../../secsock/constants.js';
import type { FrameDecoder } from '../../secsock/frame.js';
import { encodeFrame } from '../../secsock/frame.js';
import type { Plane } from '../../tun/plane.js';
import type { PeerKeys } from '../peer-keys.js';
import { PathLog } from './path-log.js';
import { TunFrame, writePacketFrame } from '../wire.js';

export interface SessionInfo {
  id: number;
  identity: Identity;
  /** the identity's key in the pool and in byIdentity: its scoped name */
  key: string;
  chain: Buffer[];
  ipv4?: string;
  ipv6?: string;
  tlsPeer: string;
  startedAt: number;
}

export class ServerSession {
  /** "host:port" of its UDP path, or "tcp" */
  real = 'tcp';
  readonly pathLog: PathLog;
  tcpDropped = 0;
  private closed = false;

  constructor(
    readonly info: SessionInfo,
    private readonly socket: TLSSocket,
    decoder: FrameDecoder,
    private readonly plane: Plane,
    readonly keys: PeerKeys,
    private readonly onEnd: (s: ServerSession, why: string) => void,
    log: (line: string) => void,
  ) {
    this.pathLog = new PathLog(info.key, log);
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      try {
        for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
          if (f.type === TunFrame.PACKET) plane.input(f.payload);
          else if (f.type === TunFrame.CLOSE) return this.close(`client closed: ${f.payload.toString('utf8').slice(0, 256)}`, false);
          else return this.close(`client sent frame type ${f.type} after ACCEPT`, true);
        }
      } catch (err) {
        this.close(`client sent bytes we cannot read: ${(err as Error).message}`, true);
      }
    });
    socket.on('close', () => this.close('control connection closed', false));
    socket.on('error', () => undefined); // 'close' follows
    socket.resume();
  }

  get id(): number {
    return this.info.id;
  }

  /** A sealed datagram for this client's TCP rung. */
  writePacket(datagram: Buffer): void {
    if (!this.closed && !writePacketFrame(this.socket, datagram)) this.tcpDropped++;
  }

  /** Ends the session: tells the client why (CLOSE on the control connection and on the data path) when `tell`. */
  close(why: string, tell: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.pathLog.stop();
    if (tell) {
      const reason = Buffer.from(why.slice(0, 256), 'utf8');
      this.plane.sendControl(this.id, InnerKind.CLOSE, reason, 0, false);
      this.socket.end(encodeFrame(TunFrame.CLOSE, 0, reason));
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      this.socket.destroy();
    }
    this.plane.removePeer(this.id);
    this.onEnd(this, why);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
