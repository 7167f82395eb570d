// -L: a local TCP listener whose every connection becomes one CONNECT
// stream to host:hostport as seen from the gateway, joined to it at once:
// the connection's first bytes follow the OPEN without waiting for the
// answer (the gateway drops them if it refuses). With `ftp`, the control
// connection goes through the FTP relay, and its data connections through
// streams of the same session (ftp-hooks.ts).
import type { Socket } from 'node:net';
import { relayFtpControl } from '../ftp/relay.js';
import { describeEnd, type ForwardContext } from './context.js';
import { ftpHooks } from './ftp-hooks.js';
import { Listener, ListeningForward } from './listen.js';
import { join } from './join.js';
import { H_FTP } from './protocol.js';
import { connectHeaders, cutReason, type ForwardSession, type OpenStream, type PendingStream } from './session.js';
import type { MuxHeaders } from '../mux/index.js';
import { formatHostPort } from '../net/host-port.js';
import { type ForwardSpec } from './spec.js';

export class LocalForward extends ListeningForward {
  private constructor(
    readonly spec: ForwardSpec,
    readonly ftp: boolean,
    listener: Listener,
    private readonly request: MuxHeaders,
  ) {
    super(listener);
  }

  /** `request`: what each connection asks the gateway for; default CONNECT host:hostport (an org service: insel-service). */
  static async start(spec: ForwardSpec, ftp: boolean, ctx: ForwardContext, request?: MuxHeaders): Promise<LocalForward> {
    let self: LocalForward | undefined;
    const listener = await Listener.open(spec.bind, spec.port, `-L ${spec.text}`, (socket) => void self?.onConnection(socket, ctx));
    self = new LocalForward(spec, ftp, listener, request ?? connectHeaders(spec.host, spec.hostPort));
    return self;
  }

  get line(): string {
    return `forward -L ${formatHostPort(this.spec.bind, this.port)} -> ${this.target}${this.ftp ? ' (ftp)' : ''}`;
  }

  /** host:hostport, or an organization service's svc@site (its hostPort is 0). */
  private get target(): string {
    return this.spec.hostPort === 0 ? this.spec.host : formatHostPort(this.spec.host, this.spec.hostPort);
  }

  private async onConnection(socket: Socket, ctx: ForwardContext): Promise<void> {
    const started = Date.now();
    const from = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    const label = `-L ${this.port}: ${from} -> ${this.target}`;
    socket.on('error', () => undefined);
    const session = ctx.session();
    if (session === undefined) {
      ctx.warn(`${label}: refused: no session with the gateway`);
      return void socket.resetAndDestroy();
    }
    this.track(socket);
    let pending: PendingStream;
    try {
      pending = session.open(this.ftp ? { ...this.request, [H_FTP]: 'control' } : this.request, false);
    } catch (err) {
      ctx.warn(`${label}: refused: ${(err as Error).message}`);
      return void socket.destroy();
    }
    pending.stream.on('reset', (code: number, reason: string) => {
      const cut = cutReason(code, reason);
      if (cut !== undefined) ctx.warn(`${label}: closed by the gateway: ${cut}`);
    });
    let refused = false;
    const answered = pending.answer.then(
      (headers) => ({ stream: pending.stream, headers }),
      (err: Error) => {
        refused = true;
        ctx.warn(`${label}: refused: ${err.message}`);
        socket.destroy();
        return undefined;
      },
    );
    if (this.ftp) {
      // The relay needs the answer's headers (the control connection's id and server) before it starts.
      const opened = await answered;
      if (opened !== undefined) await this.relayFtp(socket, opened, session, ctx, label);
      return;
    }
    const r = await join(pending.stream, socket, 'client').done;
    if (!refused) ctx.verbose(`${label}: ${describeEnd(Date.now() - started, r.up, r.down, r.end)}`);
  }

  private async relayFtp(socket: Socket, opened: OpenStream, session: ForwardSession, ctx: ForwardContext, label: string): Promise<void> {
    const hooks = ftpHooks(session, opened, socket, ctx, label);
    try {
      const relay = relayFtpControl(socket, opened.stream, {
        hooks,
        clientAddress: socket.remoteAddress ?? '',
        log: (event, detail) => (event === 'refused' || event === 'violation' ? ctx.warn : ctx.verbose)(`${label}: ftp ${event}: ${ftpDetail(detail)}`),
      });
      // The listener pauses new sockets (pauseOnConnect) and the relay reads
      // with 'data' listeners, which do not restart a paused socket: without
      // this, the client's commands are never read (splice() resumes too).
      socket.resume();
      const r = await relay;
      ctx.verbose(`${label}: ftp session ended (${r.end}): ${r.commands} commands, ${r.passive} passive and ${r.active} active data connections, ${r.refused} refused`);
    } finally {
      hooks.close();
      socket.destroy();
      opened.stream.destroy();
    }
  }
}

/** One readable line for an FTP relay event: its reason, or what was rewritten to what. */
function ftpDetail(d: Record<string, unknown>): string {
  if (d.reason !== undefined) return String(d.reason);
  if (d.serverPort !== undefined) return `server data port ${String(d.serverPort)} offered to the client as ${String(d.host)}:${String(d.port)}`;
  if (d.clientPort !== undefined) return `client data port ${String(d.clientHost)}:${String(d.clientPort)} offered to the server as ${String(d.host)}:${String(d.port)}`;
  return String(d.code ?? '');
}
