// -R: the gateway listens (if its policy allows) and each connection it
// receives comes back as one stream, joined here to host:hostport as seen
// from this client. Re-established whenever the session is.
import { connect, type Socket } from 'node:net';
import { describeEnd, type ForwardContext } from './context.js';
import { join } from './join.js';
import { H_BIND, H_BOUND, H_TO } from './protocol.js';
import { onJsonLines, type ForwardSession, type OpenStream } from './session.js';
import { formatHostPort } from '../net/host-port.js';
import { type ForwardSpec } from './spec.js';

export class RemoteForward {
  private listen: OpenStream | undefined;
  /** where the gateway listens, once it does */
  bound: string | undefined;

  constructor(
    readonly spec: ForwardSpec,
    private readonly ctx: ForwardContext,
  ) {}

  get line(): string {
    return `forward -R ${this.bound ?? formatHostPort(this.spec.bind, this.spec.port)} -> ${formatHostPort(this.spec.host, this.spec.hostPort)}`;
  }

  /** Asks the gateway to listen; throws its refusal (policy, port in use). */
  async attach(session: ForwardSession): Promise<void> {
    const target = formatHostPort(this.spec.host, this.spec.hostPort);
    const opened = await session.listen({ [H_BIND]: formatHostPort(this.spec.bind, this.spec.port), [H_TO]: target });
    this.listen = opened;
    this.bound = opened.headers[H_BOUND] ?? '';
    onJsonLines(opened.stream, (e: { conn?: unknown; from?: unknown }) => {
      if (typeof e.conn === 'number') void this.take(session, e.conn, String(e.from ?? '?'), target);
    });
  }

  close(): void {
    this.listen?.stream.destroy();
    this.listen = undefined;
  }

  private async take(session: ForwardSession, conn: number, from: string, target: string): Promise<void> {
    const started = Date.now();
    const label = `-R ${this.bound}: ${from} -> ${target}`;
    let local: Socket;
    try {
      local = await new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: this.spec.host, port: this.spec.hostPort, allowHalfOpen: true, noDelay: true });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    } catch (err) {
      const why = `cannot reach ${target}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      this.ctx.warn(`${label}: ${why}`);
      await session.accept(conn, { [H_TO]: target }, why).catch(() => undefined);
      return;
    }
    local.on('error', () => undefined);
    let opened: OpenStream;
    try {
      opened = await session.accept(conn, { [H_TO]: target });
    } catch (err) {
      this.ctx.warn(`${label}: ${(err as Error).message}`);
      return void local.destroy();
    }
    const r = await join(opened.stream, local, 'target').done;
    this.ctx.verbose(`${label}: ${describeEnd(Date.now() - started, r.up, r.down, r.end)}`);
  }
}
