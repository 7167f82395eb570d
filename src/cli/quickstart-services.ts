// The quickstart's sample services on loopback, in the quickstart's own
// process: an HTTP page and a UDP echo (real sockets), plus the two client
// checks it makes through the VPN (fetch the page, echo one datagram).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, get, type Server } from 'node:http';

export const PAGE = 'Hello from the branch office: this page came to you through insel.\n';

export interface SampleServices {
  close(): Promise<void>;
}

export async function startSampleServices(httpPort: number, udpPort: number): Promise<SampleServices> {
  const http: Server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(PAGE);
  });
  http.listen(httpPort, '127.0.0.1');
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', (m, from) => udp.send(m, from.port, from.address));
  try {
    await Promise.all([once(http, 'listening'), new Promise<void>((resolve, reject) => (udp.once('error', reject), udp.bind(udpPort, '127.0.0.1', () => resolve())))]);
  } catch (err) {
    http.close();
    udp.close();
    throw new Error(`cannot start the sample services on 127.0.0.1:${httpPort} (HTTP) and :${udpPort} (UDP): ${(err as Error).message}`, { cause: err });
  }
  return {
    async close() {
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
      await new Promise<void>((r) => udp.close(() => r()));
    },
  };
}

/** GET http://host:port/ and resolve the body; rejects after `ms`. */
export function fetchPage(host: string, port: number, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: '/', timeout: ms }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.slice(0, 65536)));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ms} ms`)));
    req.on('error', reject);
  });
}

/** Sends `text` to host:port over UDP and resolves the first datagram back (the echo); retries a lost one, gives up after `ms`. */
export function udpEcho(host: string, port: number, text: string, ms = 10_000): Promise<string> {
  const s = createSocket('udp4');
  return new Promise<string>((resolve, reject) => {
    const send = () => s.send(text, port, host);
    const retry = setInterval(send, 500);
    const timer = setTimeout(() => finish(new Error(`no UDP echo from ${host}:${port} within ${ms} ms`)), ms);
    const finish = (err?: Error, got?: string) => {
      clearInterval(retry);
      clearTimeout(timer);
      s.close();
      if (err !== undefined) reject(err);
      else resolve(got as string);
    };
    s.on('message', (m) => finish(undefined, m.toString()));
    s.on('error', (e) => finish(e));
    send();
  });
}
