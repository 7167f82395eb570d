// connectViaProxy against real proxies on loopback: a node http server that
// handles CONNECT (TLS through it to an echo server), one that wants Basic
// credentials, and raw ones that refuse, stall, ramble, or hang up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { makeTestPki, type TestPki } from '../../pki/testing.js';
import { ProxyError } from '../errors.js';
import { MAX_PROXY_HEADER, connectViaProxy } from './http-proxy.js';

const TIMEOUT_MS = 5_000;

let pki: TestPki;
const servers: net.Server[] = [];
before(async () => {
  pki = await makeTestPki();
});
after(() => {
  for (const s of servers) s.close();
  pki.cleanup();
});

async function listen<S extends net.Server>(server: S): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** A TLS echo server (the tunnel server's TCP port stands in). */
async function tlsEcho(): Promise<number> {
  const srv = pki.profile('srv');
  return listen(tls.createServer({ key: srv.key, cert: srv.cert }, (s) => s.pipe(s)));
}

/** A real CONNECT proxy; with `credentials`, only for that Basic pair. Records the request lines it saw. */
async function connectProxy(credentials?: string): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`${req.method} ${req.url} ${req.headers['proxy-authorization'] ?? '-'}`);
    if (credentials !== undefined && req.headers['proxy-authorization'] !== `Basic ${Buffer.from(credentials).toString('base64')}`) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(':')), Number(req.url!.slice(req.url!.lastIndexOf(':') + 1))];
    const up = net.connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(client).on('error', () => undefined);
      client.pipe(up).on('error', () => undefined);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  return { port: await listen(proxy), seen };
}

/** A raw "proxy" that answers every connection with `answer` (or nothing). */
async function rawProxy(answer: (s: net.Socket) => void): Promise<number> {
  return listen(net.createServer((s) => {
    s.on('error', () => undefined);
    answer(s);
  }));
}

async function tlsThrough(socket: net.Socket): Promise<string> {
  const t = tls.connect({ socket, ca: pki.profile('srv').ca, servername: 'localhost' });
  await once(t, 'secureConnect');
  t.write('hello through the proxy');
  const [echo] = (await once(t, 'data')) as [Buffer];
  t.destroy();
  return echo.toString();
}

async function refusal(p: Promise<net.Socket>): Promise<ProxyError> {
  const err = await p.then(
    () => assert.fail('connected'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ProxyError, String(err));
  return err;
}

describe('HTTP CONNECT client', () => {
  it('tunnels TLS through a real proxy', async () => {
    const target = await tlsEcho();
    const proxy = await connectProxy();
    const socket = await connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: proxy.port, host: '127.0.0.1', port: target, timeoutMs: TIMEOUT_MS });
    assert.equal(await tlsThrough(socket), 'hello through the proxy');
    assert.deepEqual(proxy.seen, [`CONNECT 127.0.0.1:${target} -`]);
  });

  it('sends Basic credentials to a proxy that wants them; without them, a clear 407', async () => {
    const target = await tlsEcho();
    const proxy = await connectProxy('alice:s3cret pass');
    const socket = await connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: proxy.port, host: '127.0.0.1', port: target, timeoutMs: TIMEOUT_MS, auth: { username: 'alice', password: 's3cret pass' } });
    assert.equal(await tlsThrough(socket), 'hello through the proxy');
    const err = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: proxy.port, host: '127.0.0.1', port: target, timeoutMs: TIMEOUT_MS }));
    assert.equal(err.code, 'INSEL_PROXY_REFUSED');
    assert.equal(err.status, 407);
    assert.equal(err.message, `HTTP proxy 127.0.0.1:${proxy.port} refused CONNECT 127.0.0.1:${target}: 407 "Proxy Authentication Required" (the proxy wants a username and password)`);
    const wrong = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: proxy.port, host: '127.0.0.1', port: target, timeoutMs: TIMEOUT_MS, auth: { username: 'alice', password: 'guess' } }));
    assert.match(wrong.message, /did not accept the username and password/);
  });

  it('a proxy that forbids the target: 403 named with the proxy', async () => {
    const port = await rawProxy((s) => s.end('HTTP/1.0 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    const err = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: port, host: 'vpn.example', port: 1194, timeoutMs: TIMEOUT_MS }));
    assert.equal(err.code, 'INSEL_PROXY_REFUSED');
    assert.equal(err.status, 403);
    assert.match(err.message, new RegExp(`^HTTP proxy 127\\.0\\.0\\.1:${port} refused CONNECT vpn\\.example:1194: 403 "Forbidden"`));
  });

  it('keeps bytes the proxy sent right after its header, and finds a header split over many writes', async () => {
    const port = await rawProxy(async (s) => {
      const answer = 'HTTP/1.1 200 OK\r\nVia: test\r\n\r\nEARLY';
      for (const c of answer) {
        s.write(c);
        await new Promise((r) => setImmediate(r));
      }
    });
    const socket = await connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: port, host: '::1', port: 443, timeoutMs: TIMEOUT_MS });
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.resume();
    while (got.length < 5) await once(socket, 'data');
    assert.equal(got, 'EARLY');
    socket.destroy();
  });

  it('asks for an IPv6 target in brackets', async () => {
    let line = '';
    const port = await rawProxy((s) => s.once('data', (d: Buffer) => {
      line = d.toString().split('\r\n')[0]!;
      s.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    }));
    const err = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: port, host: '2001:db8::1', port: 443, timeoutMs: TIMEOUT_MS }));
    assert.equal(line, 'CONNECT [2001:db8::1]:443 HTTP/1.1');
    assert.equal(err.status, 502);
  });

  it('a proxy that never answers: a timeout naming it', async () => {
    const port = await rawProxy(() => undefined);
    const err = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: port, host: 'vpn.example', port: 443, timeoutMs: 200 }));
    assert.equal(err.code, 'INSEL_PROXY_TIMEOUT');
    assert.equal(err.message, `HTTP proxy 127.0.0.1:${port} did not answer CONNECT for vpn.example:443 within 200 ms`);
  });

  it(`a header beyond ${MAX_PROXY_HEADER} bytes, a non-HTTP answer, or a hang-up are bad responses`, async () => {
    const rambling = await rawProxy((s) => {
      s.write('HTTP/1.1 200 OK\r\n');
      for (let i = 0; i < 40; i++) s.write(`X-Filler-${i}: ${'a'.repeat(1000)}\r\n`);
    });
    const big = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: rambling, host: 'vpn.example', port: 443, timeoutMs: TIMEOUT_MS }));
    assert.equal(big.code, 'INSEL_PROXY_BAD_RESPONSE');
    assert.match(big.message, /response header over 16384 bytes/);

    const ssh = await rawProxy((s) => s.write('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
    const notHttp = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: ssh, host: 'vpn.example', port: 443, timeoutMs: TIMEOUT_MS }));
    assert.equal(notHttp.code, 'INSEL_PROXY_BAD_RESPONSE');
    assert.match(notHttp.message, /answered CONNECT with "SSH-2\.0-OpenSSH_9\.2", not an HTTP\/1\.x status line/);

    const hangup = await rawProxy((s) => s.end('HTTP/1.1 200'));
    const closed = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: hangup, host: 'vpn.example', port: 443, timeoutMs: TIMEOUT_MS }));
    assert.equal(closed.code, 'INSEL_PROXY_BAD_RESPONSE');
    assert.match(closed.message, /closed the connection before answering CONNECT vpn\.example:443/);
  });

  it('an unreachable proxy, and a target or credentials that cannot go into a request', async () => {
    const free = await rawProxy(() => undefined);
    servers.pop()!.close();
    await new Promise((r) => setImmediate(r));
    const down = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: free, host: 'vpn.example', port: 443, timeoutMs: TIMEOUT_MS }));
    assert.equal(down.code, 'INSEL_PROXY_UNREACHABLE');
    assert.match(down.message, new RegExp(`^HTTP proxy 127\\.0\\.0\\.1:${free} is unreachable: .*ECONNREFUSED`));

    const injected = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: free, host: 'vpn.example\r\nX-Evil: 1', port: 443, timeoutMs: TIMEOUT_MS }));
    assert.equal(injected.code, 'INSEL_PROXY_BAD_TARGET');
    const colon = await refusal(connectViaProxy({ proxyHost: '127.0.0.1', proxyPort: free, host: 'vpn.example', port: 443, timeoutMs: TIMEOUT_MS, auth: { username: 'a:b', password: 'c' } }));
    assert.equal(colon.code, 'INSEL_PROXY_BAD_TARGET');
  });
});
