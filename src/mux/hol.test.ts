// Head-of-line: a 1-byte echo on one stream keeps completing round trips
// while two bulk uploads run on others over the same session. Asserts
// completion (the echoes finish while the bulk is still running), never a time.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import type { MuxStream } from './stream.js';
import { tlsPair } from './testing.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

test('a 1-byte echo completes 50 round trips while two bulk streams run', async () => {
  const p = await tlsPair(pki);
  let sunk = 0;
  p.server.on('stream', (s: MuxStream, headers) => {
    s.respond({});
    if (headers[':path'] === '/echo') s.pipe(s);
    else s.on('data', (b: Buffer) => (sunk += b.length));
  });
  let running = true;
  const chunk = Buffer.alloc(256 * 1024, 0x62);
  const bulk = async () => {
    const s = p.client.open({ ':path': '/sink' });
    let sent = 0;
    while (running && sent < 2 ** 36) {
      sent += chunk.length;
      if (!s.write(chunk)) await once(s, 'drain');
    }
    s.end();
    return sent;
  };
  const bulks = [bulk(), bulk()];
  // Let the bulk streams fill the pipe first.
  while (sunk < 8 << 20) await new Promise((r) => setTimeout(r, 5));
  const echo = p.client.open({ ':path': '/echo' });
  const sunkBefore = sunk;
  for (let i = 0; i < 50; i++) {
    const back = once(echo, 'data');
    echo.write(Buffer.of(i));
    assert.deepEqual([...((await back)[0] as Buffer)], [i]);
  }
  assert.ok(sunk > sunkBefore, 'the bulk streams were still moving while the echoes ran');
  running = false;
  const sent = await Promise.all(bulks);
  assert.ok(sent.every((n) => n > 0));
  echo.end();
  await p.close();
});
