// Both ends of an org connection over loopback TCP: requests and answers by
// id, refusals, pushed events, a client queueing beyond 16 in flight; and a
// hostile client (bad frames, bad JSON, wrong schema, a 17th outstanding
// request) gets a reason frame and is closed, the server unharmed.
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { OrgClientConnection, OrgServerConnection, type CloseInfo } from './connection.js';
import { OrgRefusedError, WireError } from './errors.js';
import { encodeFrame, FrameDecoder, parseObject } from './frame.js';
import { ORG_REQUESTS, requestsSchema, type Request } from './messages.js';

let server: Server;
let port: number;
const conns: OrgServerConnection<(typeof ORG_REQUESTS)[number]>[] = [];
const closes: CloseInfo[] = [];
let gate: Promise<void> = Promise.resolve();

async function handle(req: Request<(typeof ORG_REQUESTS)[number]>): Promise<object> {
  if (req.type === 'heartbeat') {
    await gate;
    return {};
  }
  if (req.type === 'ticket') throw new OrgRefusedError('INSEL_ORG_TICKET', `ticket ${req.ticket} is unknown`);
  if (req.type === 'user-code') return { code: `code-for-${req.name}`, expiresAt: new Date(0).toISOString() };
  throw new Error('boom');
}

before(async () => {
  const schema = requestsSchema(ORG_REQUESTS);
  server = createServer((s) => conns.push(new OrgServerConnection(s, { peer: 'test', onClose: (i) => closes.push(i) }, schema, handle, () => undefined)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

async function client(): Promise<{ c: OrgClientConnection; events: unknown[] }> {
  const s = connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const events: unknown[] = [];
  return { c: new OrgClientConnection(s, { peer: `127.0.0.1:${port}` }, (e) => events.push(e)), events };
}

/** A raw socket: sends bytes, collects the frames it receives until closed. */
async function raw(bytes: Buffer): Promise<Record<string, unknown>[]> {
  const s: Socket = connect(port, '127.0.0.1');
  const d = new FrameDecoder();
  const got: Record<string, unknown>[] = [];
  s.on('data', (c: Buffer) => got.push(...d.push(c).map(parseObject)));
  s.on('error', () => undefined);
  s.write(bytes);
  await new Promise((r) => s.once('close', r));
  return got;
}

test('requests are answered by id; refusals and handler faults come back as OrgRefusedError; events arrive', async () => {
  const { c, events } = await client();
  assert.deepEqual(await c.request('user-code', { name: 'alice', groups: ['eng'], ttlS: 3600 }), { code: 'code-for-alice', expiresAt: '1970-01-01T00:00:00.000Z' });
  await assert.rejects(c.request('ticket', { ticket: 'x.y' }), (e: unknown) => e instanceof OrgRefusedError && e.code === 'INSEL_ORG_TICKET' && e.reason === 'ticket x.y is unknown');
  await assert.rejects(c.request('subscribe', {}), (e: unknown) => e instanceof OrgRefusedError && e.code === 'INSEL_ORG_INTERNAL');
  conns.at(-1)!.push({ kind: 'services' });
  await c.request('heartbeat', {});
  assert.deepEqual(events, [{ kind: 'services' }]);
  c.close('INSEL_TEST', 'done');
});

test('a client with 40 requests keeps 16 in flight and gets every answer', async () => {
  let open!: () => void;
  gate = new Promise((r) => (open = r));
  const { c } = await client();
  const all = Array.from({ length: 40 }, () => c.request('heartbeat', {}));
  setTimeout(open, 50);
  assert.equal((await Promise.all(all)).length, 40);
  c.close('INSEL_TEST', 'done');
});

test('a 17th unanswered request closes the connection with a reason frame', async () => {
  gate = new Promise(() => undefined); // never answered
  const frames = Buffer.concat(Array.from({ length: 17 }, (_, i) => encodeFrame({ id: i, type: 'heartbeat' })));
  const got = await raw(frames);
  assert.equal(got.at(-1)?.code, 'INSEL_WIRE_OUTSTANDING');
  gate = Promise.resolve();
});

test('bad frames, bad JSON and wrong schemas each get their reason frame and a close', async () => {
  const zero = Buffer.alloc(4);
  const huge = Buffer.from([0x7f, 0xff, 0xff, 0xff]);
  const notJson = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{x}')]);
  const cases: [Buffer, string][] = [
    [zero, 'INSEL_WIRE_FRAME'],
    [huge, 'INSEL_WIRE_FRAME'],
    [notJson, 'INSEL_WIRE_JSON'],
    [encodeFrame([1, 2]), 'INSEL_WIRE_JSON'],
    [encodeFrame({ id: 1, type: 'register', site: '../x', public: 'a:1', services: [] }), 'INSEL_WIRE_SCHEMA'],
    [encodeFrame({ id: 1, type: 'enroll', code: 'c', csr: 'x' }), 'INSEL_WIRE_SCHEMA'],
    [encodeFrame({ id: 1, type: 'heartbeat', extra: 1 }), 'INSEL_WIRE_SCHEMA'],
  ];
  for (const [bytes, code] of cases) {
    const got = await raw(bytes);
    assert.equal(got.length, 1, code);
    assert.equal(got[0]!.type, 'error');
    assert.equal(got[0]!.code, code);
    assert.equal(typeof got[0]!.reason, 'string');
  }
});

test('an answer the client did not ask for closes it; its open requests fail with WireError', async () => {
  const fake = createServer((s) => {
    s.on('data', () => s.write(encodeFrame({ id: 999, ok: true })));
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const s = connect((fake.address() as AddressInfo).port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  let info: CloseInfo | undefined;
  const c = new OrgClientConnection(s, { peer: 'fake', onClose: (i) => (info = i) });
  await assert.rejects(c.request('heartbeat', {}), (e: unknown) => e instanceof WireError && e.code === 'INSEL_WIRE_CLOSED');
  assert.equal(info?.code, 'INSEL_WIRE_SCHEMA');
  fake.close();
});
