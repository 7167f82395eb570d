// The daemon's local control socket (a UNIX socket, 0600, in a directory we
// create 0700 if missing). Protocol: the client sends one line, `status`;
// the daemon answers one line of JSON, a StatusSnapshot, and closes. Any
// other request gets {"error": "..."} and is closed. Bounded: at most
// `maxConnections` at once (more are closed at once), a request line of
// `maxRequest` bytes, `timeoutMs` per connection.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensureDir } from '../../pki/store.js';
import { TunnelError } from '../errors.js';
import { isStatusSnapshot, type StatusSnapshot } from './status-snapshot.js';

export interface StatusSocketLimits {
  maxConnections: number;
  maxRequest: number;
  timeoutMs: number;
}

export const STATUS_SOCKET_LIMITS: StatusSocketLimits = { maxConnections: 8, maxRequest: 4096, timeoutMs: 2000 };
/** The largest reply readStatus takes: ~300 bytes per client, far beyond max-clients. */
const MAX_REPLY = 16 << 20;

export class StatusServer {
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  /** Serves `provider()` at `path`; replaces a stale socket file, refuses one somebody listens on. */
  static async listen(path: string, provider: () => StatusSnapshot, limits: Partial<StatusSocketLimits> = {}): Promise<StatusServer> {
    const l = { ...STATUS_SOCKET_LIMITS, ...limits };
    ensureDir(dirname(path), 0o700);
    await removeStale(path);
    const server = createServer();
    const s = new StatusServer(path, server);
    server.on('connection', (socket) => s.serve(socket, provider, l));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new TunnelError('INSEL_TUNNEL_STATUS', `cannot serve status at ${path}: ${err.code ?? err.message}; choose another path with status-socket PATH`, { file: path, cause: err })),
      );
      // the socket file gets its mode from the umask at bind(): make it 0600 from the first moment
      const old = process.umask(0o177);
      try {
        server.listen(path, () => resolve());
      } finally {
        process.umask(old);
      }
    });
    chmodSync(path, 0o600);
    return s;
  }

  /** Connections being served now. */
  get active(): number {
    return this.sockets.size;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket, provider: () => StatusSnapshot, l: StatusSocketLimits): void {
    if (this.sockets.size >= l.maxConnections) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    // a deadline for the whole exchange, not an idle timeout: a byte a second must not hold a slot
    const deadline = setTimeout(() => socket.destroy(), l.timeoutMs);
    socket.on('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    let request = '';
    socket.on('data', (chunk: Buffer) => {
      request += chunk.toString('latin1');
      const nl = request.indexOf('\n');
      if (nl < 0) {
        if (request.length > l.maxRequest) reply(socket, { error: `request longer than ${l.maxRequest} bytes` });
        return;
      }
      socket.removeAllListeners('data');
      const line = request.slice(0, nl).trim();
      if (line !== 'status') {
        reply(socket, { error: 'unknown request; send "status"' });
        return;
      }
      try {
        reply(socket, provider());
      } catch (err) {
        reply(socket, { error: `status failed: ${(err as Error).message}` });
      }
    });
  }
}

function reply(socket: Socket, body: object): void {
  socket.removeAllListeners('data');
  socket.end(`${JSON.stringify(body)}\n`);
}

/** A socket file nobody answers on is left from a crash: remove it. Anything else at `path` is refused. */
async function removeStale(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new TunnelError('INSEL_TUNNEL_STATUS', `${path} exists and is not a socket; remove it or choose another path with status-socket PATH`, { file: path });
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new TunnelError('INSEL_TUNNEL_STATUS', `another insel tunnel serves status at ${path}; stop it, or give this one another path with status-socket PATH`, { file: path });
  unlinkSync(path);
}

/** Asks the daemon at `path` for its status. TunnelError INSEL_TUNNEL_STATUS when nobody answers or the answer is no status. */
export function readStatus(path: string, timeoutMs = STATUS_SOCKET_LIMITS.timeoutMs): Promise<StatusSnapshot> {
  const fail = (why: string, cause?: unknown) => new TunnelError('INSEL_TUNNEL_STATUS', `${path}: ${why}`, { file: path, ...(cause === undefined ? {} : { cause }) });
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    const chunks: Buffer[] = [];
    let size = 0;
    c.setTimeout(timeoutMs, () => c.destroy(fail(`no answer within ${timeoutMs / 1000} s`)));
    c.on('connect', () => c.write('status\n'));
    c.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REPLY) c.destroy(fail(`the answer is longer than ${MAX_REPLY} bytes`));
      else chunks.push(chunk);
    });
    c.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof TunnelError) reject(err);
      else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(fail(`no insel tunnel is running here (${err.code}); is the path right?`, err));
      else if (err.code === 'EACCES') reject(fail('permission denied; the status socket is for root (try sudo)', err));
      else reject(fail(err.code ?? err.message, err));
    });
    c.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        reject(fail('the answer is not JSON'));
        return;
      }
      if (isStatusSnapshot(body)) resolve(body);
      else reject(fail(typeof (body as { error?: unknown })?.error === 'string' ? `the daemon says: ${(body as { error: string }).error}` : 'the answer is not a status'));
    });
  });
}
