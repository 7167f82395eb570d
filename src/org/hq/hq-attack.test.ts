// Hostile peers at HQ's port (SECURITY.md): a client without a certificate
// on insel-org/1, garbage before and after TLS, oversized frames, bad JSON,
// messages failing their schema, 17 requests in flight, a site that claims
// another site's name, a second request on an enrollment connection. Each
// is told why and closed; HQ keeps serving.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { certless, readToClose, waitUntil } from '../../net/testing.js';
import type { IdentityPem } from '../../pki/profile.js';
import { connectTls } from '../../tls/connect.js';
import { ALPN_ENROLL, ALPN_ORG } from '../wire/constants.js';
import { OrgRefusedError } from '../wire/errors.js';
import { encodeFrame, FrameDecoder, parseObject } from '../wire/frame.js';
import { startTestHq, type TestHq } from './testing.js';

let t: TestHq;
let site: IdentityPem;

before(async () => {
  t = await startTestHq();
  site = (await t.enrollSite('branch')).identity;
});
after(() => t.close());

function frames(data: Buffer): Record<string, unknown>[] {
  try {
    return new FrameDecoder().push(data).map(parseObject);
  } catch {
    return [];
  }
}

async function asSite(): Promise<TLSSocket> {
  return connectTls({ host: '127.0.0.1', port: t.hq.port, identity: site, alpn: [ALPN_ORG], timeoutMs: 5000 });
}

/** Sends `bytes` as the site; the reason frame HQ closed with. */
async function sendAsSite(bytes: Buffer): Promise<Record<string, unknown> | undefined> {
  const s = await asSite();
  s.write(bytes);
  const { data, closed } = await readToClose(s, 5000);
  assert.ok(closed, 'HQ closes the connection');
  return frames(data).find((f) => f.type === 'error');
}

async function stillServes(): Promise<void> {
  const link = t.link(site);
  await link.register({ site: 'branch', public: '127.0.0.1:9', services: [] });
  link.close();
}

test('insel-org/1 without a certificate: a reason frame naming the missing certificate, then closed', async () => {
  const s = certless(t.hq.port, [ALPN_ORG], '127.0.0.1');
  const { data, closed } = await readToClose(s, 5000);
  assert.ok(closed);
  const f = frames(data)[0];
  assert.equal(f?.code, 'INSEL_CERT_MISSING');
  assert.match(String(f?.reason), /certificate was refused/);
});

test('oversized frames, bad JSON, schema failures and a 17th request each close with their code', async () => {
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(64 << 20);
  const badJson = Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{]')]);
  const cases: [Buffer, string][] = [
    [huge, 'INSEL_WIRE_FRAME'],
    [Buffer.alloc(4), 'INSEL_WIRE_FRAME'],
    [badJson, 'INSEL_WIRE_JSON'],
    [encodeFrame({ id: 1, type: 'authorize', user: { name: 'a' }, service: 'x' }), 'INSEL_WIRE_SCHEMA'],
    [encodeFrame({ id: 1, type: 'enroll', code: 'x', csr: 'y' }), 'INSEL_WIRE_SCHEMA'],
    // subscribe answers at once but ticket waits on the database: 17 tickets in one write are 17 in flight
    [Buffer.concat(Array.from({ length: 40 }, (_, i) => encodeFrame({ id: i, type: 'ticket', ticket: `x${i}.y` }))), 'INSEL_WIRE_OUTSTANDING'],
  ];
  for (const [bytes, code] of cases) assert.equal((await sendAsSite(bytes))?.code, code, code);
  await stillServes();
});

test("a site cannot register under another site's name", async () => {
  const link = t.link(site);
  await assert.rejects(link.register({ site: 'main', public: '127.0.0.1:9', services: [] }), (e: unknown) => e instanceof OrgRefusedError && e.code === 'INSEL_ORG_FORBIDDEN' && /site branch's/.test(e.reason));
  link.close();
});

test('garbage instead of TLS and garbage on insel-enroll/1 are closed; HQ keeps serving', async () => {
  const raw = connect(t.hq.port, '127.0.0.1');
  raw.on('error', () => undefined);
  raw.write('GET / HTTP/1.1\r\n\r\n');
  assert.ok((await readToClose(raw, 5000)).closed);
  const e = certless(t.hq.port, [ALPN_ENROLL], '127.0.0.1');
  e.once('secureConnect', () => e.write(Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5])));
  const { data, closed } = await readToClose(e, 5000);
  assert.ok(closed);
  assert.equal(frames(data)[0]?.code, 'INSEL_WIRE_JSON');
  await stillServes();
});

test('a site holds at most 8 connections to HQ; the 9th is told why', async () => {
  const held: TLSSocket[] = [];
  try {
    for (let i = 0; i < 8; i++) held.push(await asSite());
    assert.ok(await waitUntil(() => t.server.members >= 8, 5000));
    const ninth = await asSite();
    const { data, closed } = await readToClose(ninth, 5000);
    assert.ok(closed);
    assert.equal(frames(data)[0]?.code, 'INSEL_LIMIT');
  } finally {
    held.forEach((s) => s.destroy());
  }
});
