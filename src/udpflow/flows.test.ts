// UDP forwarding end to end on loopback:
//
//   client sockets ──► UdpLocalForward ══ SecSockets UDP channel ══► SecServer + UdpGateway ──► echo server
//   (127.0.0.1:*)      (127.0.0.1:fwd)     (alice → srv)                (one socket per flow)     (127.0.0.1:echo)
//
// Every wait has a deadline; everything is closed in t.after.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import type { SecChannel } from '../secsock/channel.js';
import { connect } from '../secsock/client.js';
import { SecServer } from '../secsock/server.js';
import { ForwardError } from '../forward/errors.js';
import { UdpGateway, type UdpAuthorize } from './gateway.js';
import { UdpLocalForward } from './local.js';
import { decodeFlowMessage, encodeClose, encodeData, encodeOpen, encodeOpened, FlowType } from './wire.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

const LOOP = '127.0.0.1';

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function bound(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    s.once('error', reject);
    s.bind(0, LOOP, () => resolve(s));
  });
}

/** The target: echoes every datagram to its sender and remembers who sent. */
async function echoServer() {
  const s = await bound();
  const sources = new Set<number>();
  let received = 0;
  s.on('message', (m: Buffer, from: RemoteInfo) => {
    received++;
    sources.add(from.port);
    s.send(m, from.port, from.address);
  });
  return { port: s.address().port, sources, received: () => received, close: () => new Promise<void>((r) => s.close(() => r())) };
}

/** A local client of the forward: a socket and a queue of what came back. */
async function localClient(t: TestContext, to: number) {
  const s = await bound();
  const inbox: Buffer[] = [];
  const waiters: ((m: Buffer) => void)[] = [];
  s.on('message', (m: Buffer) => {
    const w = waiters.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  t.after(() => new Promise<void>((r) => s.close(() => r())));
  return {
    socket: s,
    send: (m: Buffer | string) => s.send(typeof m === 'string' ? Buffer.from(m) : m, to, LOOP),
    next: (ms = 3000) => within(inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise<Buffer>((r) => waiters.push(r)), ms, 'echo'),
  };
}

interface Setup {
  authorize?: UdpAuthorize;
  gatewayIdleMs?: number;
  localIdleMs?: number;
  maxFlowsPerChannel?: number;
}

async function setup(t: TestContext, o: Setup = {}) {
  const echo = await echoServer();
  const server = await SecServer.listen({ transport: 'udp', host: LOOP, identity: pki.profile('srv'), peerRoles: ['user'] });
  const logs: { level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const gateway = new UdpGateway({
    server,
    authorize: o.authorize ?? (async (_id, host) => ({ allow: true, address: host })),
    idleMs: o.gatewayIdleMs ?? 60_000,
    maxFlowsPerChannel: o.maxFlowsPerChannel,
    log: {
      info: (obj, msg) => logs.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      warn: (obj, msg) => logs.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    },
  });
  gateway.start();
  const channels: SecChannel[] = [];
  const openChannel = async () => {
    const ch = await connect({ transport: 'udp', host: LOOP, port: server.port, identity: pki.profile('alice') });
    channels.push(ch);
    return ch;
  };
  const lines: string[] = [];
  const fwd = await UdpLocalForward.start({ bind: LOOP, port: 0, host: LOOP, hostPort: echo.port, openChannel, idleMs: o.localIdleMs ?? 60_000, log: (l) => lines.push(l) });
  t.after(async () => {
    await fwd.close();
    await gateway.close();
    await server.close();
    await echo.close();
  });
  const ended = () => logs.filter((l) => l.msg === 'udp flow ended').map((l) => l.obj);
  return { echo, server, gateway, fwd, logs, lines, channels, openChannel, ended };
}

describe('udp forward', () => {
  it('echoes 10,000 datagrams of 4-1200 bytes without loss on loopback', async (t) => {
    const s = await setup(t);
    const c = await localClient(t, s.fwd.port);
    const N = 10_000;
    const WINDOW = 64;
    const pool = randomBytes(1200);
    const datagram = (i: number) => {
      const b = Buffer.from(pool.subarray(0, 4 + ((i * 7919) % 1197)));
      b.writeUInt32BE(i, 0);
      return b;
    };
    const pending = new Map<number, Buffer>();
    let echoed = 0;
    let corrupt = 0;
    let batchDone: () => void = () => undefined;
    c.socket.removeAllListeners('message');
    c.socket.on('message', (m: Buffer) => {
      const seq = m.readUInt32BE(0);
      const sent = pending.get(seq);
      if (sent === undefined) return;
      if (!sent.equals(m)) corrupt++;
      pending.delete(seq);
      echoed++;
      if (pending.size === 0) batchDone();
    });
    const t0 = Date.now();
    let lost = 0;
    // The first round trip goes alone: until OPENED the forward holds only
    // OPEN_QUEUE datagrams of a new flow, by design.
    for (let base = 0; base < N; base += base === 0 ? 1 : WINDOW) {
      const done = new Promise<void>((r) => (batchDone = r));
      for (let i = base; i < Math.min(base === 0 ? 1 : base + WINDOW, N); i++) {
        const d = datagram(i);
        pending.set(i, d);
        c.send(d);
      }
      await within(done, 2000, `batch at ${base}`).catch(() => undefined);
      lost += pending.size;
      pending.clear();
    }
    const ms = Date.now() - t0;
    t.diagnostic(`sent ${N}, echoed ${echoed}, lost ${lost} (${((100 * lost) / N).toFixed(2)} %), corrupt ${corrupt}, ${ms} ms, ${Math.round((N * 1000) / ms)} round trips/s`);
    t.diagnostic(`gateway ${JSON.stringify(s.gateway.stats())}; local ${JSON.stringify(s.fwd.stats())}`);
    assert.equal(corrupt, 0);
    assert.equal(lost, 0);
    assert.equal(s.gateway.stats().flows, 1, 'one source, one flow');
    assert.equal(s.gateway.stats().datagramsIn, N);
    assert.equal(s.fwd.stats().datagramsOut, N);
    assert.equal(s.echo.sources.size, 1);
  });

  it('carries datagrams too large for one packet (fragmented on the channel) both ways, and small ones around them', async (t) => {
    const s = await setup(t);
    const c = await localClient(t, s.fwd.port);
    c.send('open');
    assert.equal((await c.next()).toString(), 'open');
    for (const size of [1363, 1364, 8000, 60_000]) {
      const d = randomBytes(size);
      c.send(d);
      assert.ok((await c.next()).equals(d), `${size} bytes came back intact`);
    }
    assert.equal(s.gateway.stats().datagramsIn, 5);
    assert.deepEqual(s.gateway.stats().drops, {});
  });

  it('gives two local sources two flows, each with its own socket at the gateway', async (t) => {
    const s = await setup(t);
    const a = await localClient(t, s.fwd.port);
    const b = await localClient(t, s.fwd.port);
    a.send('from a');
    b.send('from b');
    assert.equal((await a.next()).toString(), 'from a');
    assert.equal((await b.next()).toString(), 'from b');
    a.send('again a');
    assert.equal((await a.next()).toString(), 'again a');
    assert.equal(s.echo.sources.size, 2, 'the echo server saw two source ports');
    assert.equal(s.gateway.stats().flows, 2);
    assert.equal(s.fwd.stats().flows, 2);
    assert.equal(s.gateway.stats().channels, 1, 'both flows share one channel');
    assert.equal(s.channels.length, 1);
  });

  it('reports the gateway denial reason locally, logs it there, and opens no target socket', async (t) => {
    const reason = 'policy: alice may not send to udp 127.0.0.1';
    const s = await setup(t, { authorize: async () => ({ allow: false, reason }) });
    const c = await localClient(t, s.fwd.port);
    c.send('knock');
    c.send('knock again'); // queued behind the OPEN, dropped with the denial
    assert.equal(await within(s.fwd.denial, 3000, 'denial'), reason);
    assert.ok(s.lines.some((l) => l.includes('denied by the gateway') && l.includes(reason)), s.lines.join('\n'));
    const warn = s.logs.find((l) => l.level === 'warn');
    assert.equal(warn?.msg, 'udp flow denied');
    assert.equal(warn?.obj.who, 'alice');
    assert.equal(warn?.obj.role, 'user');
    assert.equal(warn?.obj.to, `${LOOP}:${s.echo.port}`);
    assert.equal(warn?.obj.reason, reason);
    assert.match(String(warn?.obj.peer), /^127\.0\.0\.1:\d+$/);
    c.send('and again'); // the denied flow drops it here, without another OPEN
    await waitFor(() => s.fwd.stats().dropped >= 3, 2000, 'local drops');
    assert.equal(s.fwd.stats().denied, 1);
    assert.equal(s.gateway.stats().denied, 1);
    assert.equal(s.echo.received(), 0);
  });

  it('expires idle flows at the gateway, tells the client, and a new datagram reopens', async (t) => {
    const s = await setup(t, { gatewayIdleMs: 200 });
    const c = await localClient(t, s.fwd.port);
    c.send('one');
    assert.equal((await c.next()).toString(), 'one');
    await waitFor(() => s.gateway.stats().flows === 0 && s.fwd.stats().flows === 0, 3000, 'flows expire at both ends');
    assert.equal(s.gateway.stats().expired, 1);
    assert.ok(s.lines.some((l) => l.includes('closed by the gateway (idle)')), s.lines.join('\n'));
    const [line] = s.ended();
    assert.equal(line?.why, 'idle');
    assert.equal(line?.who, 'alice');
    assert.equal(line?.to, `${LOOP}:${s.echo.port}`);
    assert.equal(line?.datagramsUp, 1);
    assert.equal(line?.bytesUp, 3);
    assert.equal(line?.datagramsDown, 1);
    assert.equal(line?.bytesDown, 3);
    assert.equal(typeof line?.durationMs, 'number');
    c.send('two');
    assert.equal((await c.next()).toString(), 'two');
    assert.equal(s.gateway.stats().flows, 1);
    assert.equal(s.echo.sources.size, 2, 'the new flow has a new gateway socket');
  });

  it('expires idle flows at the client, which tells the gateway, and a new datagram reopens', async (t) => {
    const s = await setup(t, { localIdleMs: 200 });
    const c = await localClient(t, s.fwd.port);
    c.send('one');
    assert.equal((await c.next()).toString(), 'one');
    await waitFor(() => s.gateway.stats().flows === 0 && s.fwd.stats().flows === 0, 3000, 'flows expire at both ends');
    const [line] = s.ended();
    assert.equal(line?.why, 'client closed');
    assert.equal(line?.reason, 'idle');
    c.send('two');
    assert.equal((await c.next()).toString(), 'two');
  });

  it('recheck closes the flows a reloaded policy refuses, with the reason at the client', async (t) => {
    const s = await setup(t);
    const c = await localClient(t, s.fwd.port);
    c.send('one');
    await c.next();
    assert.equal(s.gateway.recheck(() => undefined), 0);
    const seen: string[] = [];
    assert.equal(
      s.gateway.recheck((id, host, port, address) => {
        seen.push(`${id.name} ${host}:${port} ${address}`);
        return 'policy reload: udp to 127.0.0.1 no longer allowed';
      }),
      1,
    );
    assert.deepEqual(seen, [`alice ${LOOP}:${s.echo.port} ${LOOP}`]);
    await waitFor(() => s.fwd.stats().flows === 0, 2000, 'client forgets the flow');
    assert.ok(s.lines.some((l) => l.includes('no longer allowed')), s.lines.join('\n'));
    assert.equal(s.ended()[0]?.why, 'policy reload');
  });

  it('a flow whose authorization was under way during a reload gets the new policy, not the old verdict', async (t) => {
    let release: () => void = () => undefined;
    const authorizing = new Promise<void>((r) => (release = r));
    let asked = 0;
    // The old policy allows, but answers only after the reload.
    const s = await setup(t, {
      authorize: async (_id, host) => {
        asked++;
        await authorizing;
        return { allow: true, address: host };
      },
    });
    const c = await localClient(t, s.fwd.port);
    c.send('slipping through?');
    await waitFor(() => asked === 1, 2000, 'the OPEN to reach authorize');
    assert.equal(s.gateway.recheck(() => 'policy reload: udp to 127.0.0.1 no longer allowed'), 0, 'no flow was open yet');
    release();
    assert.equal(await within(s.fwd.denial, 3000, 'denial'), 'policy reload: udp to 127.0.0.1 no longer allowed');
    assert.equal(s.echo.received(), 0, 'nothing reached the target');
    assert.equal(s.gateway.stats().flows, 0);
  });

  it('survives garbage, unexpected types and unknown flows on a channel; answers repeated OPENs', async (t) => {
    const s = await setup(t);
    const raw = await s.openChannel(); // a second channel, driven by hand
    t.after(() => raw.close());
    // Short, or of no known type: random bytes that are surely malformed.
    for (let i = 0; i < 200; i++) {
      const junk = randomBytes(i % 40);
      if (junk.length >= 5) junk[0] = 0x80 | junk[0]!;
      await raw.send(junk);
    }
    await raw.send(Buffer.from([9, 0, 0, 0, 1])); // unknown type
    await raw.send(encodeOpened(1)); // a gateway → client type
    await raw.send(encodeData(77, Buffer.from('x'))); // unknown flow: one CLOSE back
    await raw.send(encodeData(77, Buffer.from('y'))); // …and no second one
    const answer = async () => decodeFlowMessage((await within(raw.recv(), 3000, 'gateway answer'))!);
    assert.deepEqual(await answer(), { type: FlowType.CLOSE, flow: 77, reason: 'unknown flow' });
    await raw.send(encodeOpen(5, LOOP, s.echo.port));
    assert.deepEqual(await answer(), { type: FlowType.OPENED, flow: 5 });
    await raw.send(encodeOpen(5, LOOP, s.echo.port)); // a retransmit (our OPENED lost): OPENED again
    assert.deepEqual(await answer(), { type: FlowType.OPENED, flow: 5 });
    await raw.send(encodeData(5, Buffer.from('hand made')));
    const back = decodeFlowMessage((await within(raw.recv(), 3000, 'echo on raw flow'))!);
    assert.ok(back.type === FlowType.DATA && back.flow === 5 && back.body.toString() === 'hand made');
    await raw.send(encodeClose(5, 'bye'));
    await waitFor(() => s.ended().some((l) => l.why === 'client closed' && l.reason === 'bye'), 2000, 'raw flow ends');
    const drops = s.gateway.stats().drops;
    t.diagnostic(`gateway drops ${JSON.stringify(drops)}`);
    assert.equal(drops.malformed, 201);
    assert.equal(drops.unexpected_type, 1);
    assert.equal(drops.unknown_flow, 2);
    // The forward on the other channel still works.
    const c = await localClient(t, s.fwd.port);
    c.send('still here');
    assert.equal((await c.next()).toString(), 'still here');
  });

  it('denies OPENs beyond maxFlowsPerChannel', async (t) => {
    const s = await setup(t, { maxFlowsPerChannel: 1 });
    const a = await localClient(t, s.fwd.port);
    const b = await localClient(t, s.fwd.port);
    a.send('a');
    await a.next();
    b.send('b');
    assert.match(await within(s.fwd.denial, 3000, 'denial'), /too many UDP flows on this channel \(limit 1\)/);
  });

  it('survives a target that refuses (ICMP port unreachable)', async (t) => {
    const dead = await bound();
    const deadPort = dead.address().port;
    await new Promise<void>((r) => dead.close(() => r()));
    const s = await setup(t, { authorize: async (_id, host) => ({ allow: true, address: host === 'dead' ? LOOP : host }) });
    // A second forward on the same gateway, to the closed port.
    const fwd2 = await UdpLocalForward.start({ bind: LOOP, port: 0, host: 'dead', hostPort: deadPort, openChannel: s.openChannel, idleMs: 60_000 });
    t.after(() => fwd2.close());
    const c = await localClient(t, fwd2.port);
    for (let i = 0; i < 5; i++) {
      c.send(`ping ${i}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor(() => (s.gateway.stats().drops.target_error ?? 0) >= 1, 3000, 'target errors counted');
    const ok = await localClient(t, s.fwd.port);
    ok.send('alive');
    assert.equal((await ok.next()).toString(), 'alive');
  });

  it('reopens the channel when it dies, and new datagrams flow again', async (t) => {
    const s = await setup(t);
    const c = await localClient(t, s.fwd.port);
    c.send('before');
    assert.equal((await c.next()).toString(), 'before');
    await s.channels[0]!.close('pulled the plug');
    await waitFor(() => s.channels.length === 2 && s.gateway.stats().channels === 1, 5000, 'a second channel');
    assert.ok(s.lines.some((l) => l.includes('reconnecting')), s.lines.join('\n'));
    await waitFor(() => s.ended().some((l) => l.why === 'channel closed'), 2000, 'gateway ends the old flow');
    c.send('after');
    assert.equal((await c.next()).toString(), 'after');
  });

  it('a port in use is a typed error naming bind:port, before any channel opens', async (t) => {
    const s = await setup(t);
    let opened = 0;
    await assert.rejects(
      UdpLocalForward.start({ bind: LOOP, port: s.fwd.port, host: LOOP, hostPort: s.echo.port, openChannel: async () => (opened++, s.openChannel()), idleMs: 1000 }),
      (err: unknown) => err instanceof ForwardError && err.code === 'INSEL_FORWARD_BIND' && err.message.includes(`${LOOP}:${s.fwd.port}`) && /in use/.test(err.message),
    );
    assert.equal(opened, 0);
  });

  it('start fails cleanly: a bad target before binding, a failed channel releases the port', async () => {
    await assert.rejects(
      UdpLocalForward.start({ bind: LOOP, port: 0, host: 'no spaces', hostPort: 53, openChannel: () => Promise.reject(new Error('unused')), idleMs: 1000 }),
      (err: unknown) => err instanceof ForwardError && err.code === 'INSEL_FORWARD_BAD_TARGET',
    );
    const probe = await bound();
    const port = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const refused = new Error('gateway unreachable');
    await assert.rejects(UdpLocalForward.start({ bind: LOOP, port, host: LOOP, hostPort: 53, openChannel: () => Promise.reject(refused), idleMs: 1000 }), (err) => err === refused);
    const again = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, LOOP, () => resolve());
    });
    await new Promise<void>((r) => again.close(() => r()));
  });

  it('refuses a TCP server: UDP is never carried inside TCP', async () => {
    const server = await SecServer.listen({ transport: 'tcp', host: LOOP, identity: pki.profile('srv') });
    try {
      assert.throws(
        () => new UdpGateway({ server, authorize: async () => ({ allow: false, reason: 'x' }), idleMs: 1000, log: { info() {}, warn() {} } }),
        (err: unknown) => err instanceof ForwardError && err.code === 'INSEL_FORWARD_NOT_UDP',
      );
    } finally {
      await server.close();
    }
  });
});
