// The tunnel side of the FTP relay: data connections ride streams of the
// control connection's session, never the open network.
//   passive: a one-shot local listener; its connection becomes a CONNECT
//            to the server's data port, marked as data of this control
//            connection (the gateway checks it is the same server).
//   active:  a one-shot listener at the gateway, on its address towards the
//            FTP server; the server's connection comes back as a remote
//            connection, which we join to the FTP client's PORT address.
import { connect, type Socket } from 'node:net';
import type { FtpDataHooks } from '../ftp/relay.js';
import type { ForwardContext } from './context.js';
import { ForwardError } from './errors.js';
import { Listener } from './listen.js';
import { join } from './join.js';
import { H_BOUND, H_CONTROL, H_FTP, H_STREAM, H_TARGET } from './protocol.js';
import { onJsonLines, type ForwardSession, type OpenStream } from './session.js';
import { parseHostPort } from '../net/host-port.js';

/** A data listener nobody connects to is closed after this long. */
const DATA_WAIT_MS = 30_000;

export function ftpHooks(session: ForwardSession, control: OpenStream, client: Socket, ctx: ForwardContext, label: string): FtpDataHooks & { close(): void } {
  const controlId = control.headers[H_STREAM] ?? '';
  const server = parseHostPort(control.headers[H_TARGET] ?? '', 'gateway insel-target header').host;
  const listeners = new Set<Listener>();
  const timers = new Set<NodeJS.Timeout>();
  const data = { [H_FTP]: 'data', [H_CONTROL]: controlId };
  const close = () => {
    for (const l of listeners) l.pause();
    listeners.clear();
    for (const t of timers) clearTimeout(t);
    timers.clear();
  };
  return {
    close,
    async passive(serverPort) {
      let listener: Listener | undefined = undefined;
      const done = () => {
        clearTimeout(timer);
        timers.delete(timer);
        listener?.pause();
        if (listener) listeners.delete(listener);
      };
      const timer = setTimeout(done, DATA_WAIT_MS);
      timers.add(timer);
      // The client connects to the address it reached us on (EPSV has no address).
      listener = await Listener.open(client.localAddress ?? '127.0.0.1', 0, 'an FTP passive data connection', (socket: Socket) => {
        done();
        socket.on('error', () => undefined);
        if (socket.remoteAddress !== client.remoteAddress) return void socket.destroy(); // not our FTP client
        session.connect(server, serverPort, data).then(
          (opened) => void join(opened.stream, socket, 'client'),
          (err: Error) => {
            ctx.warn(`${label}: ftp data connection refused: ${err.message}`);
            socket.destroy();
          },
        );
      });
      listeners.add(listener);
      return { host: client.localAddress ?? '127.0.0.1', port: listener.port };
    },
    async active(clientHost, clientPort) {
      const opened = await session.listen({ [H_FTP]: 'active', [H_CONTROL]: controlId });
      const bound = parseHostPort(opened.headers[H_BOUND] ?? '', 'gateway insel-bound header');
      const timer = setTimeout(() => opened.stream.destroy(), DATA_WAIT_MS);
      timers.add(timer);
      onJsonLines(opened.stream, (e: { conn?: unknown }) => {
        clearTimeout(timer);
        timers.delete(timer);
        opened.stream.destroy();
        if (typeof e.conn !== 'number') return;
        void joinActive(session, e.conn, clientHost, clientPort).catch((err: Error) => ctx.warn(`${label}: ftp active data connection failed: ${err.message}`));
      });
      return bound;
    },
  };
}

async function joinActive(session: ForwardSession, conn: number, host: string, port: number): Promise<void> {
  let local: Socket;
  try {
    local = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port, allowHalfOpen: true });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  } catch (err) {
    await session.accept(conn, {}, `cannot reach the FTP client at ${host}:${port}: ${(err as Error).message}`).catch(() => undefined);
    throw new ForwardError('INSEL_UNREACHABLE', `cannot reach the FTP client's data port ${host}:${port}`, { cause: err });
  }
  local.on('error', () => undefined);
  try {
    const opened = await session.accept(conn);
    void join(opened.stream, local, 'target');
  } catch (err) {
    local.destroy();
    throw err;
  }
}

