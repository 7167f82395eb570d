// The gateway's outgoing TCP connection to a target, with a deadline and a
// message a user can act on when it fails.
import { connect, type Socket } from 'node:net';
import { formatHostPort } from '../net/host-port.js';

/** Why a dial failed, for clients that map it to their own codes (SOCKS5 replies): insel-cause. */
export type DialCause = 'refused' | 'network-unreachable' | 'host-unreachable' | 'timeout' | 'other';

export class DialError extends Error {
  constructor(
    readonly status: 502 | 504,
    message: string,
    readonly cause: DialCause,
  ) {
    super(message);
  }
}

export function dial(address: string, port: number, host: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    const what = host === address ? formatHostPort(address, port) : `${formatHostPort(host, port)} (${address})`;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DialError(504, `the gateway could not reach ${what}: no answer within ${timeoutMs} ms`, 'timeout'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const hint = err.code === 'ECONNREFUSED' ? 'connection refused: nothing listens there' : (err.code ?? err.message);
      reject(new DialError(502, `the gateway could not reach ${what}: ${hint}`, CAUSES[err.code ?? ''] ?? 'other'));
    });
  });
}

const CAUSES: Record<string, DialCause> = {
  ECONNREFUSED: 'refused',
  ENETUNREACH: 'network-unreachable',
  EHOSTUNREACH: 'host-unreachable',
  ETIMEDOUT: 'timeout',
};
