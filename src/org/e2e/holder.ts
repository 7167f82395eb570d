// Long-lived connections through a relay, to see whether it survives (HQ
// restart, CA rollover) or is cut (revocation, site restart): a TCP echo
// server, and a holder that sends a ping every 50 ms through the relay and
// counts the echoes until the connection ends. holderCode() is the same
// holder as a `node -e` program for a user's namespace: it prints `up` at
// the first echo and `closed <epoch ms> <echoes>` when the connection ends.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpEcho {
  close(): Promise<void>;
}

export async function startTcpEcho(port: number, host = '127.0.0.1'): Promise<TcpEcho> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((c) => {
    sockets.add(c);
    c.on('error', () => undefined);
    c.on('close', () => sockets.delete(c));
    c.pipe(c);
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const PING_MS = 50;

export class Holder {
  echoes = 0;
  /** when the connection ended (Date.now()), or undefined while it lasts */
  closedAt: number | undefined;
  error: string | undefined;
  private readonly socket: Socket;
  private readonly timer: NodeJS.Timeout;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (b: Buffer) => (this.echoes += b.length));
    socket.on('error', (e) => (this.error = e.message));
    socket.on('close', () => {
      this.closedAt = Date.now();
      clearInterval(this.timer);
    });
    this.timer = setInterval(() => socket.write('.'), PING_MS);
  }

  /** Connects to host:port and resolves once the first echo came back. */
  static async open(host: string, port: number, ms = 10_000): Promise<Holder> {
    const socket = connect({ host, port });
    const h = new Holder(socket);
    const deadline = Date.now() + ms;
    while (h.echoes === 0) {
      if (h.closedAt !== undefined) throw new Error(`the connection through ${host}:${port} ended before the first echo${h.error === undefined ? '' : `: ${h.error}`}`);
      if (Date.now() > deadline) throw new Error(`no echo through ${host}:${port} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return h;
  }

  get open(): boolean {
    return this.closedAt === undefined;
  }

  /** Resolves once `n` more echoes came back (the relay still carries data); throws if it ends first or after `ms`. */
  async moreEchoes(n: number, ms = 10_000): Promise<void> {
    const target = this.echoes + n;
    const deadline = Date.now() + ms;
    while (this.echoes < target) {
      if (!this.open) throw new Error(`the held connection ended after ${this.echoes} echoes${this.error === undefined ? '' : `: ${this.error}`}`);
      if (Date.now() > deadline) throw new Error(`the held connection carried no ${n} echoes within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resolves the time it ended; throws if it still lasts after `ms`. */
  async ended(ms = 10_000): Promise<number> {
    const deadline = Date.now() + ms;
    while (this.closedAt === undefined) {
      if (Date.now() > deadline) throw new Error(`the held connection still lasts after ${ms} ms (${this.echoes} echoes)`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closedAt;
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.destroy();
  }
}

/** The holder as a `node -e` program (for a namespace): `up`, then `closed <epoch ms> <echoes>`. */
export function holderCode(host: string, port: number): string {
  return [
    `const c=require('net').connect({host:${JSON.stringify(host)},port:${port}});let n=0;`,
    `const t=setInterval(()=>c.write('.'),${PING_MS});`,
    `c.on('data',b=>{if(n===0)console.log('up');n+=b.length});c.on('error',e=>console.log('error '+e.message));`,
    `c.on('close',()=>{clearInterval(t);console.log('closed '+Date.now()+' '+n);process.exit(0)})`,
  ].join('');
}
