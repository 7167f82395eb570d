// splice() between streams and real TCP sockets on loopback: bytes and
// half-close both ways, a socket error resets the stream with a reason, a
// reset destroys the socket.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { MuxCode } from './constants.js';
import type { MuxStream } from './stream.js';
import { tlsPair } from './testing.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

async function listen(handle: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

/** Reads until the peer's FIN, then answers with the count and hash of what it read, then ends. */
const summarize = (s: Socket) => {
  const h = createHash('sha256');
  let n = 0;
  s.on('data', (b: Buffer) => {
    n += b.length;
    h.update(b);
  });
  s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
};

const dial = (port: number) => connect({ port, host: '127.0.0.1', allowHalfOpen: true });

test('splice both ends: 1 MiB one way, FIN, the answer back the other way, FIN', async () => {
  const p = await tlsPair(pki);
  const target = await listen(summarize);
  const splices: Promise<void>[] = [];
  p.server.on('stream', (s: MuxStream) => {
    s.respond({});
    splices.push(s.splice(dial(target.port)));
  });
  // The client end: a local listener whose connections each get a stream.
  const local = await listen((sock) => splices.push(p.client.open({ ':target': 'summarize' }).splice(sock)));
  const user = dial(local.port);
  const payload = randomBytes((1 << 20) + 123);
  user.end(payload);
  const answer: Buffer[] = [];
  user.on('data', (b: Buffer) => answer.push(b));
  await once(user, 'end');
  assert.equal(Buffer.concat(answer).toString(), `${payload.length} ${createHash('sha256').update(payload).digest('hex')}`);
  user.destroy();
  await Promise.all(splices);
  assert.equal(p.client.streamCount, 0);
  assert.equal(p.server.streamCount, 0);
  target.server.close();
  local.server.close();
  await p.close();
});

test('bytes the stream buffered before splice() (optimistic data) reach the socket first', async () => {
  const p = await tlsPair(pki);
  const target = await listen(summarize);
  const done = new Promise<void>((resolve) =>
    p.server.on('stream', (s: MuxStream) => {
      // Splice only once the data and the FIN are already buffered.
      s.once('readable', () =>
        setTimeout(() => {
          s.respond({});
          void s.splice(dial(target.port)).then(resolve);
        }, 50),
      );
    }),
  );
  const c = p.client.open({});
  c.end('early bytes');
  const chunks: Buffer[] = [];
  c.on('data', (b: Buffer) => chunks.push(b));
  await once(c, 'end');
  assert.equal(Buffer.concat(chunks).toString(), `11 ${createHash('sha256').update('early bytes').digest('hex')}`);
  await done;
  target.server.close();
  await p.close();
});

test('a socket error resets the stream (CANCEL, with the reason); a peer reset destroys the socket', async () => {
  const p = await tlsPair(pki);
  let victim: Socket | undefined;
  const target = await listen((s) => {
    victim = s;
    s.on('error', () => undefined);
  });
  const serverSide: Promise<void>[] = [];
  p.server.on('stream', (s: MuxStream) => {
    s.respond({});
    const sock = dial(target.port);
    serverSide.push(s.splice(sock));
  });
  // The target resets the TCP connection: the gateway's socket errors.
  const a = p.client.open({});
  const aReset = new Promise<[number, string]>((r) => a.once('reset', (code: number, reason: string) => r([code, reason])));
  await once(a, 'response');
  for (let i = 0; i < 500 && victim === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  victim!.resetAndDestroy();
  const [code, reason] = await aReset;
  assert.equal(code, MuxCode.CANCEL);
  assert.match(reason, /local socket: .*ECONNRESET|local socket closed/);
  await serverSide[0];

  // The client resets: the gateway destroys its socket to the target.
  victim = undefined;
  const b = p.client.open({});
  await once(b, 'response');
  for (let i = 0; i < 500 && victim === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  // Half-open allowed, the target sees the FIN of our destroyed socket as 'end'.
  const targetSaw = once(victim!, 'end');
  b.reset(MuxCode.CANCEL, 'bye');
  await targetSaw;
  victim!.destroy();
  await serverSide[1];
  target.server.close();
  await p.close();
});
