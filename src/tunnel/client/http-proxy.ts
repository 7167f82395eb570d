// An HTTP CONNECT client (RFC 9110 §9.3.6) for the ladder's 'http-proxy'
// rung: asks the proxy for a tunnel to host:port and hands back the raw
// socket, on which the caller runs TLS. The proxy is not trusted: its answer
// header is bounded (16 KiB), the whole exchange has a deadline, and every
// failure is a ProxyError naming the proxy, the target and the proxy's status.
import net from 'node:net';
import { quote } from '../../errors.js';
import { targetProblem } from '../../udpflow/wire.js';
import { ProxyError } from '../errors.js';

/** The largest response header we read from a proxy before the tunnel starts. */
export const MAX_PROXY_HEADER = 16 * 1024;

export interface ProxyConnectOptions {
  proxyHost: string;
  proxyPort: number;
  /** the target behind the proxy: the server's TLS/TCP address */
  host: string;
  port: number;
  /** deadline for connecting to the proxy and its answer */
  timeoutMs: number;
  /** HTTP Basic credentials for the proxy */
  auth?: { username: string; password: string };
}

const END_OF_HEAD = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: ([^\r\n]*))?$/;

/** The status of a proxy's response head (the bytes before the blank line). Throws ProxyError when it is not HTTP/1.x. */
export function parseConnectResponse(head: Buffer, proxy: string): { status: number; reason: string } {
  const text = head.toString('latin1');
  const eol = text.indexOf('\r\n');
  const line = eol < 0 ? text : text.slice(0, eol);
  const m = STATUS_LINE.exec(line);
  if (m === null) throw new ProxyError('INSEL_PROXY_BAD_RESPONSE', `HTTP proxy ${proxy} answered CONNECT with ${quote(line)}, not an HTTP/1.x status line`, { peer: proxy });
  return { status: Number(m[1]), reason: m[2] ?? '' };
}

/**
 * A TCP connection to host:port through the HTTP proxy. The socket comes back
 * paused, holding any bytes the proxy sent after its header: hand it to
 * tls.connect({ socket }) (which reads them first) or resume() it.
 */
export function connectViaProxy(o: ProxyConnectOptions): Promise<net.Socket> {
  const proxy = authority(o.proxyHost, o.proxyPort);
  const target = authority(o.host, o.port);
  const problem = targetProblem(o.host, o.port) ?? credentialsProblem(o.auth);
  if (problem !== undefined) return Promise.reject(new ProxyError('INSEL_PROXY_BAD_TARGET', `cannot ask HTTP proxy ${proxy} for ${target}: ${problem}`, { peer: proxy }));
  const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`];
  if (o.auth !== undefined) lines.push(`Proxy-Authorization: Basic ${Buffer.from(`${o.auth.username}:${o.auth.password}`).toString('base64')}`);
  const request = `${lines.join('\r\n')}\r\n\r\n`;

  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: o.proxyHost, port: o.proxyPort });
    let connected = false;
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new ProxyError('INSEL_PROXY_TIMEOUT', `HTTP proxy ${proxy} did not ${connected ? 'answer CONNECT' : 'accept a connection'} for ${target} within ${o.timeoutMs} ms`, { peer: proxy })), o.timeoutMs);

    const done = (): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect).off('data', onData).off('error', onError).off('close', onClose);
    };
    const fail = (err: ProxyError): void => {
      done();
      socket.destroy();
      reject(err);
    };
    const onConnect = (): void => {
      connected = true;
      socket.setNoDelay(true);
      socket.write(request);
    };
    const onData = (chunk: Buffer): void => {
      const from = Math.max(0, head.length - (END_OF_HEAD.length - 1));
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(END_OF_HEAD, from);
      if (end < 0 || end > MAX_PROXY_HEADER) {
        if (head.length > MAX_PROXY_HEADER) fail(new ProxyError('INSEL_PROXY_BAD_RESPONSE', `HTTP proxy ${proxy} sent a response header over ${MAX_PROXY_HEADER} bytes for CONNECT ${target}`, { peer: proxy }));
        return;
      }
      let status: { status: number; reason: string };
      try {
        status = parseConnectResponse(head.subarray(0, end), proxy);
      } catch (err) {
        fail(err as ProxyError);
        return;
      }
      if (status.status < 200 || status.status > 299) {
        fail(new ProxyError('INSEL_PROXY_REFUSED', `HTTP proxy ${proxy} refused CONNECT ${target}: ${status.status} ${quote(status.reason)}${refusalHint(status.status, o.auth !== undefined)}`, { peer: proxy, status: status.status }));
        return;
      }
      done();
      socket.pause();
      const rest = head.subarray(end + END_OF_HEAD.length);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const onError = (err: Error): void => {
      const what = connected ? `failed during CONNECT ${target}` : `is unreachable`;
      fail(new ProxyError('INSEL_PROXY_UNREACHABLE', `HTTP proxy ${proxy} ${what}: ${err.message}`, { peer: proxy, cause: err }));
    };
    const onClose = (): void => {
      fail(new ProxyError('INSEL_PROXY_BAD_RESPONSE', `HTTP proxy ${proxy} closed the connection before answering CONNECT ${target}`, { peer: proxy }));
    };
    socket.on('connect', onConnect).on('data', onData).on('error', onError).on('close', onClose);
  });
}

function authority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function credentialsProblem(auth: ProxyConnectOptions['auth']): string | undefined {
  if (auth === undefined) return undefined;
  if (auth.username.includes(':')) return 'the proxy username contains ":", which Basic authentication cannot carry';
  if (/[\r\n]/.test(auth.username + auth.password)) return 'the proxy credentials contain a line break';
  return undefined;
}

function refusalHint(status: number, withAuth: boolean): string {
  if (status === 407) return withAuth ? ' (the proxy did not accept the username and password)' : ' (the proxy wants a username and password)';
  if (status === 403) return ' (the proxy does not allow tunnels to this address or port; many allow only port 443)';
  return '';
}
