// SOCKS5 handshake messages, server side (RFC 1928, RFC 1929 username/password).
// Parsers are incremental, for bytes as they arrive on a TCP connection:
// undefined means "need more", otherwise { value, used } with `used` the bytes
// of this message (the rest belongs to the next stage). Malformed input throws
// SocksError; its `reply` says what to answer (undefined before the request,
// where RFC 1928 has no reply, only "close the connection").
//
//   greeting   VER=5 | NMETHODS (1-255) | METHODS...
//   choice     VER=5 | METHOD
//   user/pass  VER=1 | ULEN (1-255) | UNAME | PLEN (0-255) | PASSWD
//   status     VER=1 | 0 ok, 1 refused
//   request    VER=5 | CMD | RSV=0 | address (address.ts)
//   reply      VER=5 | REP | RSV=0 | address (address.ts)
import { encodedAddressLength, readAddress, writeAddress, type SocksAddress } from './address.js';
import { Reply, SocksError } from './errors.js';

export { Reply };
export const SOCKS_VERSION = 5;
/** RFC 1929's subnegotiation version: not SOCKS_VERSION. */
const USERPASS_VERSION = 1;
export const Method = { NO_AUTH: 0x00, USERPASS: 0x02, NONE_ACCEPTABLE: 0xff } as const;
export const Command = { CONNECT: 1, BIND: 2, UDP_ASSOCIATE: 3 } as const;
/** The longest message of each kind: a server that buffers more than this without a parse has a bug. */
export const MAX_GREETING = 2 + 255;
export const MAX_USERPASS = 3 + 255 + 255;
export const MAX_REQUEST = 4 + 1 + 255 + 2;

type Parsed<T> = { value: T; used: number } | undefined;

export function readGreeting(buf: Buffer): Parsed<{ methods: number[] }> {
  if (buf.length < 1) return undefined;
  checkVersion(buf[0]!, 'greeting', undefined);
  if (buf.length < 2) return undefined;
  const n = buf[1]!;
  if (n === 0) throw new SocksError('INSEL_SOCKS_GREETING', 'SOCKS greeting: the client offers no authentication method (expected 1-255)');
  const used = 2 + n;
  if (buf.length < used) return undefined;
  return { value: { methods: [...buf.subarray(2, used)] }, used };
}

export function encodeMethodChoice(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

/** RFC 1929. Username and password are decoded as UTF-8 (invalid bytes become U+FFFD, which no configured
 *  password contains in practice); an empty password is allowed by the RFC, an empty username is not. */
export function readUserPass(buf: Buffer): Parsed<{ username: string; password: string }> {
  if (buf.length < 1) return undefined;
  if (buf[0] !== USERPASS_VERSION) {
    throw new SocksError('INSEL_SOCKS_AUTH', `SOCKS username/password: version ${buf[0]} is unknown (expected 1, RFC 1929)`);
  }
  if (buf.length < 2) return undefined;
  const ulen = buf[1]!;
  if (ulen === 0) throw new SocksError('INSEL_SOCKS_AUTH', 'SOCKS username/password: the username is empty (expected 1-255 bytes)');
  const p = 2 + ulen; // PLEN
  if (buf.length <= p) return undefined;
  const used = p + 1 + buf[p]!;
  if (buf.length < used) return undefined;
  return { value: { username: buf.toString('utf8', 2, p), password: buf.toString('utf8', p + 1, used) }, used };
}

export function encodeAuthStatus(ok: boolean): Buffer {
  return Buffer.from([USERPASS_VERSION, ok ? 0 : 1]);
}

/** Any command byte is returned: the server answers COMMAND_NOT_SUPPORTED itself, after the whole request. */
export function readRequest(buf: Buffer): Parsed<{ command: number; address: SocksAddress }> {
  if (buf.length < 1) return undefined;
  checkVersion(buf[0]!, 'request', Reply.GENERAL_FAILURE);
  if (buf.length < 3) return undefined;
  if (buf[2] !== 0) {
    throw new SocksError('INSEL_SOCKS_REQUEST', `SOCKS request: reserved byte is ${buf[2]} (expected 0)`, Reply.GENERAL_FAILURE);
  }
  const read = readAddress(buf, 3);
  if (read === undefined) return undefined;
  return { value: { command: buf[1]!, address: read.address }, used: read.end };
}

/** VER REP RSV BND.ADDR BND.PORT; the bound address defaults to 0.0.0.0:0 (nothing useful to tell, e.g. on failure). */
export function encodeReply(reply: number, bindHost = '0.0.0.0', bindPort = 0): Buffer {
  const out = Buffer.alloc(3 + encodedAddressLength(bindHost));
  out[0] = SOCKS_VERSION;
  out[1] = reply;
  writeAddress(out, 3, bindHost, bindPort);
  return out;
}

/** Names the likely mistake: a SOCKS4 client, or an HTTP client pointed at the SOCKS port. */
function checkVersion(version: number, what: string, reply: number | undefined): void {
  if (version === SOCKS_VERSION) return;
  const hint =
    version === 4
      ? 'this is a SOCKS5 proxy; use socks5h:// or --socks5-hostname'
      : version >= 0x41 && version <= 0x5a // "GET", "CONNECT", ...: an HTTP request
        ? 'this is a SOCKS5 proxy, not an HTTP proxy; use socks5h://'
        : 'expected 5';
  throw new SocksError('INSEL_SOCKS_VERSION', `SOCKS ${what}: version ${version} is not SOCKS5 (${hint})`, reply);
}
