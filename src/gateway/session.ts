// What the gateway holds per client session (verified certificates only):
// who it is, its open forwards for policy reloads, its FTP
// control connections, remote listeners and their pending connections.
import type { Server, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { MuxCode, type MuxSession } from '../mux/index.js';
import type { Identity } from '../pki/identity.js';
import type { FtpWatch } from './ftp-watch.js';
import type { Action, Proto } from '../policy/policy.js';

/** An open forward, re-checked on reload. */
export interface ActiveForward {
  action: Action;
  proto: Proto;
  host: string;
  address: string;
  port: number;
  /** FTP data connections follow their control connection instead of a rule. */
  followsControl?: number;
  /** Why it is refused now, for forwards the gateway policy does not decide (an organization's relays); replaces the policy check on reload. */
  recheck?(): string | undefined;
  cut(reason: string): void;
}

export interface FtpControl {
  /** the FTP server's address as the gateway reached it */
  address: string;
  /** the gateway's own address on that connection: where an active-mode server can reach us */
  localAddress: string;
  /** what the gateway saw on it: the only source of its data connections' authority */
  watch: FtpWatch;
}

export interface PendingConn {
  socket: Socket;
  timer: NodeJS.Timeout;
  from: string;
  /** the listener it came in on: what a reload re-checks */
  listen: Omit<ActiveForward, 'cut'>;
  ftp: boolean;
}

/** Why a session's requests are all refused: its certificate (403), or its identity's session limit (429). */
export interface Refusal {
  status?: number;
  code: string;
  reason: string;
}

export class GatewaySession {
  readonly forwards = new Set<ActiveForward>();
  readonly ftpControls = new Map<number, FtpControl>();
  readonly pending = new Map<number, PendingConn>();
  readonly listeners = new Set<Server>();
  nextConn = 1;

  constructor(
    readonly mux: MuxSession,
    /** the TLS socket under the session, for re-verifying its certificate */
    readonly tls: TLSSocket,
    readonly peer: string,
    readonly identity: Identity,
  ) {}

  /** FTP active-mode listeners open in this session, over all its control connections. */
  ftpActiveOpen(): number {
    let n = 0;
    for (const c of this.ftpControls.values()) n += c.watch.activeOpen;
    return n;
  }

  /**
   * Ends the session: each forward is reset with the reason (RESET CUT), then
   * the session with GOAWAY(code, reason): CUT when its certificate is now
   * refused, GOAWAY_NORMAL at shutdown.
   */
  cut(reason: string, code: number = MuxCode.CUT): void {
    for (const f of [...this.forwards]) f.cut(reason);
    this.closeListeners();
    // The resets go out first, then GOAWAY; the mux destroys the connection if the client does not close it soon.
    this.mux.goaway(code, reason);
  }

  closeListeners(): void {
    for (const l of this.listeners) l.close();
    this.listeners.clear();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.socket.destroy();
    }
    this.pending.clear();
  }
}
