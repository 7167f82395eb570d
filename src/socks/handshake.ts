// The SOCKS5 connection phase on one accepted socket: greeting and method
// choice, RFC 1929 username/password when the forward asks for it, then the
// request. Bounded: each message has a largest size, and the whole phase a
// deadline, so a client that sends nothing (or a byte a minute) holds a
// socket for at most `deadlineMs`.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { SocksAddress } from './address.js';
import { SocksError } from './errors.js';
import { encodeAuthStatus, encodeMethodChoice, encodeReply, Method, readGreeting, readRequest, readUserPass, Reply } from './messages.js';

export interface SocksCredentials {
  username: string;
  password: string;
}

export interface SocksRequest {
  command: number;
  address: SocksAddress;
  /** Bytes the client sent after its request (a client that does not wait for the reply). */
  rest: Buffer;
}

/** Why a handshake ended without a request; `reply` has been sent when it is set. */
export class HandshakeFailed extends Error {}

type Step<T> = (buf: Buffer) => { value: T; used: number } | undefined;

/** Runs the connection phase; resolves with the request, or rejects with HandshakeFailed (the socket is then the caller's to destroy). */
export function handshake(socket: Socket, auth: SocksCredentials | undefined, deadlineMs: number): Promise<SocksRequest> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' = 'greeting';
    const timer = setTimeout(() => fail(`no complete SOCKS request within ${deadlineMs / 1000} s`, stage === 'request' ? Reply.GENERAL_FAILURE : undefined), deadlineMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
      socket.pause();
    };
    const fail = (why: string, reply?: number) => {
      cleanup();
      if (reply !== undefined && socket.writable) socket.write(encodeReply(reply));
      reject(new HandshakeFailed(why));
    };
    const onEnd = () => fail(`the client left during the SOCKS ${stage}`);
    const take = <T>(step: Step<T>): T | undefined => {
      const r = step(buf);
      if (r === undefined) return undefined;
      buf = buf.subarray(r.used);
      return r.value;
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      try {
        if (stage === 'greeting') {
          const g = take(readGreeting);
          if (g === undefined) return;
          const want = auth === undefined ? Method.NO_AUTH : Method.USERPASS;
          if (!g.methods.includes(want)) {
            socket.write(encodeMethodChoice(Method.NONE_ACCEPTABLE));
            return fail(auth === undefined ? 'the client offers no method without authentication' : 'the client offers no username/password authentication, which this forward requires');
          }
          socket.write(encodeMethodChoice(want));
          stage = auth === undefined ? 'request' : 'auth';
        }
        if (stage === 'auth') {
          const u = take(readUserPass);
          if (u === undefined) return;
          const ok = same(u.username, auth!.username) && same(u.password, auth!.password);
          socket.write(encodeAuthStatus(ok));
          if (!ok) return fail(`wrong username or password (user ${JSON.stringify(u.username.slice(0, 64))})`);
          stage = 'request';
        }
        const r = take(readRequest);
        if (r === undefined) return;
        cleanup();
        resolve({ ...r, rest: buf });
      } catch (err) {
        if (!(err instanceof SocksError)) throw err;
        fail(err.message, stage === 'request' ? err.reply : undefined);
      }
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
    socket.resume();
  });
}

/** Constant-time comparison of two strings (of any lengths). */
function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
