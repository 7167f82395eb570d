// -D through the Forwarder and an in-process gateway, driven by a SOCKS5
// client written here byte by byte (real clients, curl and PySocks, are in
// socks-curl.test.ts and socks-udp.test.ts):
//
//   client ──SOCKS5──► Forwarder -D ══ mux stream / UDP channel ══► Gateway ──► TCP / UDP echo
//
// CONNECT reaches an echo and a refused target gets its reply code; BIND is
// refused with 0x07; UDP ASSOCIATE carries datagrams both ways with the
// SOCKS header, drops FRAG ≠ 0, and a destination the policy refuses is
// dropped at the gateway, counted, and logged once with the reason.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { parseDynamicSpec } from '../forward/spec.js';
import { profiles, startForwarder, startGateway, tcpServer, until } from '../forward/testing.js';
import { Command, Method, Reply } from './messages.js';
import { encodeGreeting, encodeRequest } from './testing.js';
import { encodeUdpHeader, readUdpHeader } from './udp-header.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

const LOOP = '127.0.0.1';
const RULES = `[[allow]]\nname = "alice to the echoes"\nwho = ["user:alice"]\nto = ["127.0.0.1", "localhost"]\nports = ["*"]\nproto = ["tcp", "udp"]\n`;

/** Reads exactly n bytes (or fails after 5 s). */
async function read(s: Socket, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  const deadline = Date.now() + 5000;
  while (have < n) {
    const c = s.read(Math.min(n - have, s.readableLength || 1)) as Buffer | null;
    if (c !== null) {
      chunks.push(c);
      have += c.length;
      continue;
    }
    if (s.readableEnded || s.destroyed) throw new Error(`connection ended after ${have} of ${n} bytes`);
    if (Date.now() > deadline) throw new Error(`timed out reading ${n} bytes`);
    await Promise.race([once(s, 'readable'), once(s, 'close'), new Promise((r) => setTimeout(r, 100))]);
  }
  return Buffer.concat(chunks);
}

/** Greets (no auth) and sends one request; resolves with the socket and the reply's code and bound port. */
async function request(port: number, command: number, host: string, hostPort: number): Promise<{ s: Socket; reply: number; bndPort: number }> {
  const s = connect(port, LOOP);
  s.on('error', () => undefined);
  await once(s, 'connect');
  s.write(encodeGreeting([Method.NO_AUTH]));
  assert.deepEqual([...(await read(s, 2))], [5, Method.NO_AUTH]);
  s.write(encodeRequest(command, host, hostPort));
  const head = await read(s, 4);
  assert.equal(head[1 - 1], 5);
  const rest = await read(s, head[3] === 4 ? 18 : 6); // ATYP 1 or 4 in our replies
  return { s, reply: head[1]!, bndPort: rest.readUInt16BE(rest.length - 2) };
}

async function setup(t: TestContext) {
  const dirs = profiles(pki, ['srv', 'alice']);
  t.after(() => dirs.cleanup());
  const gw = await startGateway(dirs.dir, dirs.profile('srv'), RULES);
  t.after(() => gw.close());
  const fwd = await startForwarder(gw.port, dirs.profile('alice'), [parseDynamicSpec('0')]);
  t.after(() => fwd.close());
  return { gw, fwd, port: fwd.f.dynamicPorts[0]! };
}

function udp(): Promise<UdpSocket> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, LOOP, () => resolve(s));
  });
}

describe('insel forward -D (SOCKS5) through a gateway', () => {
  it('CONNECTs to an allowed target by name, and answers refusals and BIND with their reply codes', async (t) => {
    const echo = await tcpServer((c) => c.pipe(c));
    t.after(() => echo.close());
    const { fwd, port } = await setup(t);
    assert.ok(fwd.info.includes(`forward -D ${LOOP}:${port} (SOCKS5)`), fwd.info.join('\n'));

    const ok = await request(port, Command.CONNECT, 'localhost', echo.port);
    t.after(() => ok.s.destroy());
    assert.equal(ok.reply, Reply.SUCCEEDED);
    ok.s.write('hello through socks');
    assert.equal((await read(ok.s, 19)).toString(), 'hello through socks');

    const denied = await request(port, Command.CONNECT, '10.255.255.1', 80);
    denied.s.destroy();
    assert.equal(denied.reply, Reply.NOT_ALLOWED);
    await until(() => fwd.warn.some((l) => l.includes('10.255.255.1:80: refused (reply 0x02 not allowed by ruleset)')), 'the refusal with the gateway reason');

    const closed = await tcpServer(() => undefined);
    const closedPort = closed.port;
    await closed.close();
    const refused = await request(port, Command.CONNECT, LOOP, closedPort);
    refused.s.destroy();
    assert.equal(refused.reply, Reply.CONNECTION_REFUSED);

    const bind = await request(port, Command.BIND, '0.0.0.0', 0);
    bind.s.destroy();
    assert.equal(bind.reply, Reply.COMMAND_NOT_SUPPORTED);
  });

  it('a refused client that keeps its side open is closed anyway, so refusals cannot pile up sockets', async (t) => {
    const { port } = await setup(t);
    const s = connect({ port, host: LOOP, allowHalfOpen: true });
    s.on('error', () => undefined);
    t.after(() => s.destroy());
    await once(s, 'connect');
    s.write(encodeGreeting([Method.NO_AUTH]));
    assert.deepEqual([...(await read(s, 2))], [5, Method.NO_AUTH]);
    s.write(encodeRequest(Command.BIND, '0.0.0.0', 0));
    assert.equal((await read(s, 10))[1], Reply.COMMAND_NOT_SUPPORTED);
    // Never end our side: the forwarder must still let go within its linger time;
    // then a byte from us meets a closed socket (RST) and our side closes too.
    let closed = false;
    s.once('close', () => (closed = true));
    s.resume();
    for (let i = 0; i < 12 && !closed; i++) {
      await new Promise((r) => setTimeout(r, 500));
      if (!s.destroyed) s.write('x');
    }
    assert.equal(closed, true, 'the forwarder closed the connection');
  });

  it('UDP ASSOCIATE: datagrams both ways with the SOCKS header; fragments and denied destinations are dropped and counted', async (t) => {
    const echo = await udp();
    t.after(() => echo.close());
    echo.on('message', (m, from) => echo.send(m, from.port, from.address));
    const { gw, fwd, port } = await setup(t);
    const client = await udp();
    t.after(() => client.close());
    const assoc = await request(port, Command.UDP_ASSOCIATE, '0.0.0.0', 0);
    t.after(() => assoc.s.destroy());
    assert.equal(assoc.reply, Reply.SUCCEEDED);

    const got: Buffer[] = [];
    client.on('message', (m) => got.push(m));
    const echoPort = echo.address().port;
    for (let i = 0; i < 20; i++) client.send(Buffer.concat([encodeUdpHeader(LOOP, echoPort), Buffer.from(`ping ${i}`)]), assoc.bndPort, LOOP);
    await until(() => got.length >= 18, '18 of 20 echoes');
    const h = readUdpHeader(got[0]!);
    assert.deepEqual([h.frag, h.address.host, h.address.port], [0, LOOP, echoPort]);
    assert.match(got[0]!.subarray(h.dataOffset).toString(), /^ping \d+$/);

    // FRAG 1: dropped here, never sent.
    const frag = encodeUdpHeader(LOOP, echoPort);
    frag[2] = 1;
    client.send(Buffer.concat([frag, Buffer.from('fragment')]), assoc.bndPort, LOOP);
    await until(() => fwd.f.socksStats()[0]!.fragments === 1, 'the fragment counted');

    // A destination the policy refuses: dropped at the gateway, logged once there and here.
    for (let i = 0; i < 5; i++) client.send(Buffer.concat([encodeUdpHeader('10.255.255.1', 53), Buffer.from('q')]), assoc.bndPort, LOOP);
    await until(() => (gw.gw.stats().udp?.drops.destination_denied ?? 0) >= 4, 'the denied datagrams counted at the gateway');
    assert.equal(fwd.warn.filter((l) => l.includes('denied by the gateway: 10.255.255.1:53')).length, 1, fwd.warn.join('\n'));
    assert.equal(gw.logs.filter((l) => l.msg === 'udp destination denied').length, 1);
    assert.equal(gw.gw.stats().udp?.associations, 1);

    // The association ends with its TCP connection.
    assoc.s.destroy();
    await until(() => gw.gw.stats().udp?.associations === 0, 'the association closed at the gateway');
  });
});
