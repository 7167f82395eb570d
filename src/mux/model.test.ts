// Two sessions over a plain TCP loopback pair, driven by random workloads:
// streams opened from either end, random write sizes, some ended at once
// (OPEN with FIN), some reset midway, small windows so credit runs out often.
// Every stream that is not reset delivers exactly its bytes in both
// directions; afterwards both sessions hold no streams and no buffered bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import fc from 'fast-check';
import { MuxCode } from './constants.js';
import { MuxSession } from './session.js';
import type { MuxStream } from './stream.js';

const RUNS = 25;
const limits = { initialWindow: 16 * 1024, maxWindow: 64 * 1024 };

async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const a = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(a, 'connect');
  const [b] = await accepted;
  server.close();
  return [a, b];
}

const digest = (parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest('hex');

/** The acceptor answers with a hash of what it read, so each direction is checked. */
function hashBack(session: MuxSession): void {
  session.on('stream', (s: MuxStream) => {
    s.respond({});
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    s.on('end', () => s.end(digest(got)));
  });
}

const streamArb = fc.record({
  fromClient: fc.boolean(),
  writes: fc.array(fc.integer({ min: 0, max: 70_000 }), { maxLength: 5 }),
  resetAfter: fc.option(fc.nat({ max: 4 }), { freq: 4 }),
});

test('random workloads over one session: every stream not reset delivers exactly its bytes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(streamArb, { minLength: 1, maxLength: 12 }), async (plan) => {
      const [a, b] = await socketPair();
      const client = new MuxSession(a, { side: 'client', limits });
      const server = new MuxSession(b, { side: 'server', limits });
      hashBack(client);
      hashBack(server);
      try {
        await Promise.all(
          plan.map(async (p, i) => {
            const writes = p.writes.map((n) => Buffer.alloc(n, i));
            const s = (p.fromClient ? client : server).open({ ':n': String(i) }, { end: writes.length === 0 });
            const answer: Buffer[] = [];
            s.on('data', (x: Buffer) => answer.push(x));
            const ended = new Promise<'end' | 'reset'>((resolve) => {
              s.on('end', () => resolve('end'));
              s.on('close', () => resolve('reset'));
            });
            for (const [k, w] of writes.entries()) {
              if (p.resetAfter === k) {
                s.reset(MuxCode.CANCEL, 'test');
                return;
              }
              if (!s.write(w)) await once(s, 'drain');
            }
            if (writes.length > 0) s.end();
            assert.equal(await ended, 'end');
            assert.equal(Buffer.concat(answer).toString(), digest(writes));
          }),
        );
        // Resets reach the other end a moment later.
        for (let i = 0; i < 200 && (client.streamCount > 0 || server.streamCount > 0); i++) await new Promise((r) => setTimeout(r, 5));
        assert.equal(client.streamCount, 0);
        assert.equal(server.streamCount, 0);
        assert.equal(client.bufferedBytes, 0);
        assert.equal(server.bufferedBytes, 0);
        assert.ok(!client.closed && !server.closed);
      } finally {
        a.destroy();
        b.destroy();
      }
    }),
    { numRuns: RUNS },
  );
});
