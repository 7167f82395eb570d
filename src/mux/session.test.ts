// Sessions over a real loopback TLS 1.3 pair: full speed both ways at once
// (the case that deadlocked HTTP/2), optimistic open, resets with reasons,
// and the stream limit seen from the opener.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { MuxCode } from './constants.js';
import type { MuxStream } from './stream.js';
import { echoStreams, roundTrip, tlsPair } from './testing.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

const resetOf = (s: MuxStream) => new Promise<[number, string]>((r) => s.once('reset', (code: number, reason: string) => r([code, reason])));

test('32 concurrent 1 MiB echoes each way over one session all complete', async () => {
  const p = await tlsPair(pki);
  echoStreams(p.server);
  echoStreams(p.client);
  const payloads = Array.from({ length: 32 }, () => randomBytes(1 << 20));
  const up = payloads.map((b) => roundTrip(p.client.open({ ':path': '/echo' }), b));
  const down = payloads.map((b) => roundTrip(p.server.open({ ':path': '/echo' }), b));
  const back = await Promise.all([...up, ...down]);
  back.forEach((b, i) => assert.ok(b.equals(payloads[i % 32]!), `stream ${i} came back changed`));
  assert.equal(p.client.streamCount, 0);
  assert.equal(p.server.streamCount, 0);
  assert.equal(p.client.bufferedBytes, 0);
  assert.equal(p.server.bufferedBytes, 0);
  await p.close();
});

test('a reader slower than the sender, behind pipe() backpressure, still gets every byte', async () => {
  const p = await tlsPair(pki, { server: { limits: { initialWindow: 64 * 1024, maxWindow: 128 * 1024 } }, client: { limits: { initialWindow: 64 * 1024 } } });
  let got = 0;
  const done = new Promise<void>((resolve) =>
    p.server.on('stream', (s: MuxStream) => {
      s.respond({});
      const slow = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _enc, cb) {
          got += chunk.length;
          setImmediate(cb);
        },
      });
      s.pipe(slow).on('finish', () => resolve());
    }),
  );
  const c = p.client.open({});
  c.end(randomBytes(2 << 20));
  await done;
  assert.equal(got, 2 << 20);
  await p.close();
});

test('optimistic open: data sent before REPLY is delivered once the acceptor accepts', async () => {
  const p = await tlsPair(pki);
  const accepted = new Promise<MuxStream>((resolve) =>
    p.server.on('stream', (s: MuxStream, headers) => {
      assert.equal(headers[':path'], '/later');
      // Decide a while later, as a gateway that resolves and dials first.
      setTimeout(() => resolve(s), 50);
    }),
  );
  const c = p.client.open({ ':path': '/later' });
  const response = once(c, 'response');
  c.end('hello before the reply');
  const s = await accepted;
  assert.equal(p.server.bufferedBytes, 'hello before the reply'.length);
  s.respond({ ':status': 'ok' });
  s.end();
  const got: Buffer[] = [];
  for await (const b of s) got.push(b as Buffer);
  assert.equal(Buffer.concat(got).toString(), 'hello before the reply');
  assert.deepEqual({ ...(await response)[0] }, { ':status': 'ok' });
  assert.equal(p.server.bufferedBytes, 0);
  await p.close();
});

test('optimistic open: data sent before REPLY is dropped when the acceptor refuses', async () => {
  const p = await tlsPair(pki);
  let delivered = 0;
  const refused = new Promise<void>((resolve) =>
    p.server.on('stream', (s: MuxStream, headers) => {
      if (headers[':path'] !== '/no') return void (s.respond({}), s.pipe(s));
      s.on('data', (b: Buffer) => (delivered += b.length));
      s.pause();
      setTimeout(() => {
        s.reset(MuxCode.REFUSED, 'policy: not allowed');
        resolve();
      }, 50);
    }),
  );
  const c = p.client.open({ ':path': '/no' });
  c.write(Buffer.alloc(64 * 1024));
  const [code, reason] = await resetOf(c);
  await refused;
  assert.equal(code, MuxCode.REFUSED);
  assert.equal(reason, 'policy: not allowed');
  assert.equal(delivered, 0);
  assert.equal(p.server.bufferedBytes, 0);
  assert.equal(p.server.streamCount, 0);
  // Data the client still had in flight is dropped within the window; the session lives on.
  assert.equal((await roundTrip(p.client.open({}), Buffer.from('x'))).toString(), 'x');
  await p.close();
});

test('reset with a reason, both ways; the other end sees code and reason, then close', async () => {
  const p = await tlsPair(pki);
  const streams: MuxStream[] = [];
  p.server.on('stream', (s: MuxStream) => {
    streams.push(s);
    s.respond({});
  });
  const a = p.client.open({});
  await once(a, 'response');
  const seenByServer = resetOf(streams[0]!);
  const serverClosed = once(streams[0]!, 'close');
  a.reset(MuxCode.CANCEL, 'user pressed ^C');
  assert.deepEqual(await seenByServer, [MuxCode.CANCEL, 'user pressed ^C']);
  await serverClosed;

  const b = p.client.open({});
  await once(b, 'response');
  const seenByClient = resetOf(b);
  const closed = once(b, 'close');
  streams[1]!.reset(MuxCode.CUT, 'certificate of user:alice revoked');
  assert.deepEqual(await seenByClient, [MuxCode.CUT, 'certificate of user:alice revoked']);
  await closed;
  a.reset(MuxCode.CANCEL, 'again'); // idempotent
  assert.equal(p.client.streamCount, 0);
  assert.equal(p.server.streamCount, 0);
  await p.close();
});

test('the opener sees REFUSED with the reason when it opens past maxStreams; the session stays', async () => {
  const p = await tlsPair(pki, { server: { limits: { maxStreams: 3 } } });
  p.server.on('stream', (s: MuxStream) => s.respond({}));
  const open = Array.from({ length: 5 }, () => p.client.open({}));
  const responses = Promise.all(open.slice(0, 3).map((s) => once(s, 'response')));
  const refused = await Promise.all(open.slice(3).map(resetOf));
  for (const r of refused) assert.deepEqual(r, [MuxCode.REFUSED, 'too many streams: 3 open, maxStreams is 3']);
  await responses;
  open[0]!.reset(MuxCode.CANCEL, 'make room');
  p.server.removeAllListeners('stream');
  echoStreams(p.server);
  const back = await roundTrip(p.client.open({}), Buffer.from('still here'));
  assert.equal(back.toString(), 'still here');
  await p.close();
});

test("goaway(): the peer gets 'goaway' and 'close' with the reason; its streams get 'reset'", async () => {
  const p = await tlsPair(pki);
  p.server.on('stream', (s: MuxStream) => s.respond({}));
  const s = p.client.open({});
  await once(s, 'response');
  const goaway = once(p.client, 'goaway');
  const closed = once(p.client, 'close');
  const reset = resetOf(s);
  p.server.goaway(MuxCode.CUT, 'gateway reloading');
  assert.deepEqual(await goaway, [MuxCode.CUT, 'gateway reloading']);
  assert.match((await closed)[0] as string, /gateway reloading/);
  assert.equal((await reset)[0], MuxCode.CUT);
  assert.ok(p.server.closed);
  await p.close();
});
