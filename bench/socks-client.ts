// A tiny SOCKS5 client (RFC 1928, no authentication) for the forward bench's
// `insel forward -D` rows: CONNECT, and UDP ASSOCIATE. One message, one round
// trip, as curl and browsers do it (no pipelining), so the new-connection time
// is what they see. The messages are the codec's (src/socks).
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { readAddress, type SocksAddress } from '../src/socks/address.js';
import { Command, Method, Reply, SOCKS_VERSION } from '../src/socks/messages.js';
import { encodeGreeting, encodeRequest } from '../src/socks/testing.js';

type Parse<T> = (b: Buffer) => { value: T; used: number } | undefined;

/**
 * The next message on `s`; bytes after it are put back. The socket is left
 * flowing: the bench's targets never speak first, so nothing can come
 * before the caller listens.
 */
function readMessage<T>(s: Socket, parse: Parse<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (err?: Error, value?: T) => {
      s.off('data', onData);
      s.off('error', finish);
      s.off('close', onClose);
      if (err) reject(err);
      else resolve(value as T);
    };
    const onClose = () => finish(new Error('the SOCKS5 proxy closed the connection'));
    const onData = (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      let got: ReturnType<Parse<T>>;
      try {
        got = parse(buf);
      } catch (err) {
        return finish(err as Error);
      }
      if (got === undefined) return;
      finish(undefined, got.value);
      if (got.used < buf.length) s.unshift(buf.subarray(got.used));
    };
    s.on('data', onData);
    s.on('error', finish);
    s.on('close', onClose);
  });
}

const methodChoice: Parse<number> = (b) => {
  if (b.length < 2) return undefined;
  if (b[0] !== SOCKS_VERSION) throw new Error(`the proxy answered the greeting with version ${b[0]}, not SOCKS5`);
  return { value: b[1]!, used: 2 };
};

/** VER REP RSV BND.ADDR BND.PORT */
const reply: Parse<{ rep: number; bound: SocksAddress }> = (b) => {
  if (b.length < 3) return undefined;
  if (b[0] !== SOCKS_VERSION) throw new Error(`the proxy replied with version ${b[0]}, not SOCKS5`);
  const a = readAddress(b, 3);
  return a && { value: { rep: b[1]!, bound: a.address }, used: a.end };
};

/** Greeting, request, reply on a new connection to the proxy on 127.0.0.1:`proxy`. */
async function request(proxy: number, command: number, host: string, port: number): Promise<{ s: Socket; bound: SocksAddress }> {
  const s = connect(proxy, '127.0.0.1');
  s.setNoDelay(true);
  try {
    await once(s, 'connect');
    s.write(encodeGreeting([Method.NO_AUTH]));
    const method = await readMessage(s, methodChoice);
    if (method !== Method.NO_AUTH) throw new Error(`the proxy chose authentication method ${method}, not "none"`);
    s.write(encodeRequest(command, host, port));
    const r = await readMessage(s, reply);
    if (r.rep !== Reply.SUCCEEDED) throw new Error(`the proxy refused ${command === Command.CONNECT ? 'CONNECT' : `command ${command}`} ${host}:${port}: reply 0x0${r.rep.toString(16)}`);
    return { s, bound: r.bound };
  } catch (err) {
    s.destroy();
    throw err;
  }
}

/** A connection to host:port through the SOCKS5 proxy on 127.0.0.1:`proxy`, ready for data. */
export async function socksConnect(proxy: number, host: string, port: number): Promise<Socket> {
  return (await request(proxy, Command.CONNECT, host, port)).s;
}

/**
 * A UDP association for datagrams from host:port (the client's UDP socket):
 * the control connection (the association ends with it) and the relay to
 * send them to, each with a SOCKS UDP header (src/socks/udp-header.ts).
 */
export async function socksAssociate(proxy: number, host: string, port: number): Promise<{ control: Socket; relay: SocksAddress }> {
  const { s, bound } = await request(proxy, Command.UDP_ASSOCIATE, host, port);
  return { control: s, relay: bound };
}

/** A connection to 127.0.0.1:port, straight or (with `socks`) through the SOCKS5 proxy on 127.0.0.1:socks; ready for data. */
export async function dialLoopback(port: number, socks?: number): Promise<Socket> {
  if (socks !== undefined) return socksConnect(socks, '127.0.0.1', port);
  const s = connect(port, '127.0.0.1');
  s.setNoDelay(true);
  try {
    await once(s, 'connect');
  } catch (err) {
    s.destroy();
    throw err;
  }
  return s;
}
