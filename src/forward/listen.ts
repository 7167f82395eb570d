// A local TCP listener with a clear error for the usual failures, and the
// pause/resume that lets a forward refuse connections (the kernel answers
// RST) while its gateway is away, instead of accepting and dropping them.
import { createServer, type Server, type Socket } from 'node:net';
import { ForwardError } from './errors.js';
import { formatHostPort } from '../net/host-port.js';
import { listenReason } from '../net/listen-reason.js';

export class Listener {
  private server: Server | undefined;
  port: number;

  private constructor(
    private readonly bind: string,
    port: number,
    private readonly what: string,
    private readonly onConnection: (socket: Socket) => void,
  ) {
    this.port = port;
  }

  /** Listens on bind:port (0: a free port, then kept across pauses). */
  static async open(bind: string, port: number, what: string, onConnection: (socket: Socket) => void): Promise<Listener> {
    const l = new Listener(bind, port, what, onConnection);
    await l.resume();
    return l;
  }

  async resume(): Promise<void> {
    if (this.server) return;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, this.onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const where = formatHostPort(this.bind, this.port);
        const why = listenReason(err) + (err.code === 'EADDRINUSE' ? '; pick another, or 0 for a free one' : '');
        reject(new ForwardError('INSEL_FORWARD_BIND', `cannot listen on ${where} for ${this.what}: ${why}`, { cause: err }));
      });
      server.listen(this.port, this.bind, () => resolve());
    });
    server.on('error', () => undefined);
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Stops listening: new connections are refused by the kernel until resume(). */
  pause(): void {
    this.server?.close();
    this.server = undefined;
  }
}

/** What -L and -D share: a local listener, and the sockets it accepted, closed with it. */
export abstract class ListeningForward {
  private readonly open = new Set<Socket>();

  protected constructor(protected readonly listener: Listener) {}

  get port(): number {
    return this.listener.port;
  }

  pause(): void {
    this.listener.pause();
  }

  resume(): Promise<void> {
    return this.listener.resume();
  }

  close(): void {
    this.listener.pause();
    for (const s of this.open) s.destroy();
  }

  /** Holds an accepted socket until it closes, so close() ends it. */
  protected track(socket: Socket): void {
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
  }
}
