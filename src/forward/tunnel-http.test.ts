// HTTP through the tunnel with real curl: a -L forward, the gateway as an
// HTTPS proxy (CONNECT and absolute-form requests, as curl sends them), a
// -R forward, and refusals that say why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { makeTestPki } from '../pki/testing.js';
import { parseForwardSpec } from './spec.js';
import { ALLOW_ALICE_LOOPBACK, profiles, startForwarder, startGateway, until } from './testing.js';

function curl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '20', ...args], { maxBuffer: 64 << 20 }, (err, out, errText) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out, err: errText }));
  });
}

async function httpServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let n = 0;
    req.on('data', (b: Buffer) => (n += b.length));
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end(`hello from the target: ${req.method} ${req.url} (${n} bytes in)\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port };
}

test('HTTP through the tunnel: curl via -L, via the gateway as HTTPS proxy, and via -R', async (t) => {
  const pki = await makeTestPki();
  const p = profiles(pki, ['srv', 'alice', 'bob']);
  const web = await httpServer();
  // alice may reach loopback; bob (site branch) nothing but the web port, and listen on none.
  const rules = `${ALLOW_ALICE_LOOPBACK}\n[[allow]]\nname = "alice listens"\nwho = ["user:alice"]\naction = "listen"\nto = ["127.0.0.1"]\nports = ["*"]\n\n[[allow]]\nname = "branch web"\nwho = ["site:branch"]\nto = ["127.0.0.1"]\nports = ["${web.port}"]\n`;
  const tg = await startGateway(p.dir, p.profile('srv'), rules);
  t.after(async () => {
    await tg.close();
    web.server.close();
    p.cleanup();
    pki.cleanup();
  });

  await t.test('curl over HTTP through -L', async () => {
    const fw = await startForwarder(tg.port, p.profile('alice'), [parseForwardSpec('L', `0:127.0.0.1:${web.port}`)]);
    try {
      assert.match(fw.info[0]!, new RegExp(`^forward -L 127\\.0\\.0\\.1:${fw.ports[0]} -> 127\\.0\\.0\\.1:${web.port}$`));
      const r = await curl([`http://127.0.0.1:${fw.ports[0]}/a/b?c=d`]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, 'hello from the target: GET /a/b?c=d (0 bytes in)\n');
      const big = await curl(['--data-binary', `@${process.execPath}`, `http://127.0.0.1:${fw.ports[0]}/up`]);
      assert.match(big.out, /POST \/up \(\d{6,} bytes in\)/);
      await until(() => tg.logs.filter((l) => l.msg === 'connection' && l.who === 'alice').length >= 2, 'the gateway to log both connections');
      const line = tg.logs.find((l) => l.msg === 'connection' && l.who === 'alice')!;
      assert.equal(line.to, `127.0.0.1:${web.port}`);
      assert.equal(line.role, 'user');
      for (const k of ['from', 'up', 'down', 'ms', 'end']) assert.ok(k in line, `log line has ${k}: ${JSON.stringify(line)}`);
    } finally {
      await fw.close();
    }
  });

  const proxy = (name: string) => [
    '--proxy',
    `https://127.0.0.1:${tg.port}`,
    '--proxy-cacert',
    join(p.profile(name), 'ca.pem'),
    '--proxy-cert',
    join(p.profile(name), 'cert.pem'),
    '--proxy-key',
    join(p.profile(name), 'key.pem'),
  ];

  await t.test('curl --proxy https://gateway: absolute-form GET and CONNECT (-p), under the policy', async () => {
    const plain = await curl([...proxy('alice'), `http://127.0.0.1:${web.port}/via-proxy`]);
    assert.equal(plain.code, 0, plain.err);
    assert.equal(plain.out, 'hello from the target: GET /via-proxy (0 bytes in)\n');
    const tunnel = await curl([...proxy('alice'), '-p', `http://127.0.0.1:${web.port}/via-connect`]);
    assert.equal(tunnel.code, 0, tunnel.err);
    assert.equal(tunnel.out, 'hello from the target: GET /via-connect (0 bytes in)\n');
    // bob may reach the web port but not port 22: the 403 carries the reason.
    const denied = await curl([...proxy('bob'), '-i', `http://127.0.0.1:22/`]);
    assert.match(denied.out, /^HTTP\/1\.1 403/);
    assert.match(denied.out, /no policy rule lets user bob@branch \(site branch\) connect to tcp 127\.0\.0\.1 port 22/);
    const deniedConnect = await curl([...proxy('bob'), '-p', '-v', `http://127.0.0.1:22/`]);
    assert.notEqual(deniedConnect.code, 0);
    assert.match(deniedConnect.err, /CONNECT tunnel failed, response 403/);
    await until(() => tg.logs.some((l) => l.msg === 'denied' && l.who === 'bob@branch' && l.kind === 'http1-connect'), 'the gateway to log the denied CONNECT');
    const bobOk = await curl([...proxy('bob'), `http://127.0.0.1:${web.port}/bob`]);
    assert.equal(bobOk.out, 'hello from the target: GET /bob (0 bytes in)\n');
  });

  await t.test('a revoked certificate gets a 403 with the reason, not a silent close', async () => {
    const p2 = profiles(pki, ['mallory']);
    try {
      const r = await curl([...proxy('mallory').map((a) => a.replace(p.dir, p2.dir)), '-i', `http://127.0.0.1:${web.port}/`]);
      assert.match(r.out, /^HTTP\/1\.1 403/);
      assert.match(r.out, /your certificate was refused: .*revoked/i);
    } finally {
      p2.cleanup();
    }
  });

  await t.test('-R: the gateway listens and its connections come back to the client side', async () => {
    const fw = await startForwarder(tg.port, p.profile('alice'), [parseForwardSpec('R', `127.0.0.1:0:127.0.0.1:${web.port}`)]);
    try {
      const line = fw.info.find((l) => l.startsWith('forward -R'));
      const m = /^forward -R 127\.0\.0\.1:(\d+) -> /.exec(line ?? '');
      assert.ok(m, `forwarder printed the remote port: ${fw.info.join(' | ')} ${fw.warn.join(' | ')}`);
      for (let i = 0; i < 3; i++) {
        const r = await curl([`http://127.0.0.1:${m[1]}/remote-${i}`]);
        assert.equal(r.out, `hello from the target: GET /remote-${i} (0 bytes in)\n`, r.err);
      }
      await until(() => tg.logs.filter((l) => l.msg === 'connection' && l.kind === 'remote').length >= 3, 'remote connection log lines');
    } finally {
      await fw.close();
    }
    // bob may not make the gateway listen: the refusal reaches the client.
    const fb = await startForwarder(tg.port, p.profile('bob'), [parseForwardSpec('R', `127.0.0.1:0:127.0.0.1:${web.port}`)]);
    try {
      assert.match(fb.warn.join('\n'), /no policy rule lets user bob@branch \(site branch\) listen on tcp 127\.0\.0\.1/);
    } finally {
      await fb.close();
    }
  });
});
