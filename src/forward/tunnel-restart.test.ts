// A persistent forward survives its gateway: both as CLI child processes.
//
//   test clients ──► insel forward --config ══ TLS/HTTP2 ══► insel gateway ──► echo server
//   (200 at once)    (127.0.0.1:fwd)            one session    (127.0.0.1:P)    (127.0.0.1:echo, in this test)
//
// The gateway is SIGKILLed: the forwarder says the session is lost and its
// local port refuses connections (kernel RST, ECONNREFUSED). The gateway
// restarts on the same port; once the forwarder says "re-established", 200
// connections each move 1 MiB both ways at once, byte-exact, over ONE
// session. Every wait has a deadline; everything is closed in t.after.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestPki, type TestPki } from '../pki/testing.js';
import { ALLOW_ALICE_LOOPBACK, echoServer, insel, profiles, until, type Child } from './testing.js';
import { freePort, transfer, tryConnect, type Transfer } from './tunnel-testing.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

type LogLine = Record<string, unknown>;

/** The gateway child's stdout, parsed (pino JSON; anything else skipped). */
function gatewayLogs(gw: Child): LogLine[] {
  const out: LogLine[] = [];
  for (const l of gw.out) {
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      // not a log line
    }
  }
  return out;
}

const CONNS = 200;
const SIZE = 1 << 20;

describe('insel forward --config across a gateway restart', () => {
  it('refuses while the gateway is gone, reconnects, then carries 200 concurrent 1 MiB echoes over one session', async (t) => {
    const dirs = profiles(pki, ['srv', 'alice']);
    const echo = await echoServer();
    const children: Child[] = [];
    t.after(async () => {
      for (const c of children) await c.kill('SIGKILL');
      await echo.close();
      dirs.cleanup();
    });

    const port = await freePort();
    const gatewayConfig = join(dirs.dir, 'gateway.toml');
    writeFileSync(gatewayConfig, `listen = "127.0.0.1:${port}"\nprofile = "${dirs.profile('srv')}"\nconnect_timeout = "3s"\n\n${ALLOW_ALICE_LOOPBACK}`);
    const forwardsConfig = join(dirs.dir, 'forwards.toml');
    writeFileSync(
      forwardsConfig,
      `via = "127.0.0.1:${port}"\nprofile = "${dirs.profile('alice')}"\nreconnect_min = "100ms"\nreconnect_max = "1s"\n\n` +
        `[[forward]]\ntype = "local"\nlisten = "127.0.0.1:0"\nto = "127.0.0.1:${echo.port}"\n`,
    );
    const startGateway = async () => {
      const gw = insel(['gateway', '--config', gatewayConfig]);
      children.push(gw);
      const listening = JSON.parse(await gw.line(/"gateway listening"/)) as LogLine;
      assert.equal(listening.listen, `127.0.0.1:${port}`);
      return gw;
    };

    // 1. Gateway, forwarder, one working connection.
    const gw1 = await startGateway();
    const fwd = insel(['forward', '--config', forwardsConfig]);
    children.push(fwd);
    const fwdLine = await fwd.line(/^forward -L /);
    const local = Number(/^forward -L 127\.0\.0\.1:(\d+) -> /.exec(fwdLine)?.[1]);
    assert.ok(local > 0, fwdLine);
    await until(() => gatewayLogs(gw1).some((l) => l.msg === 'session'), "the gateway's session line");
    // The local port refuses until the session is fully up; then it works.
    let first: Transfer | undefined;
    for (let i = 0; i < 100 && first === undefined; i++) {
      first = await transfer(local, 4096, -1, 5000).catch(() => undefined);
      if (first === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(first, `no working connection through 127.0.0.1:${local}:\n${[...fwd.out, ...fwd.err].join('\n')}`);
    assert.equal(first.received, 4096);
    assert.equal(first.receivedHash, first.sentHash);

    // 2. The gateway dies: the session is lost, the local port refuses.
    await gw1.kill('SIGKILL');
    await fwd.line(/session with gateway lost/);
    const how = await tryConnect(local);
    assert.equal(how, 'refused', 'a new local connection is refused by the kernel, not accepted and dropped');
    t.diagnostic(`after SIGKILL: ${fwd.err.filter((l) => /lost|unreachable/.test(l)).length} lost/unreachable lines, e.g. ${fwd.err.find((l) => /lost/.test(l))}`);

    // 3. The gateway comes back on the same port; the forwarder reconnects.
    const gw2 = await startGateway();
    await fwd.line(/re-established/, 15_000);
    assert.equal(await tryConnect(local), 'accepted');

    // 4. 200 connections at once, 1 MiB each way, distinct data, byte-exact.
    // A stall here ("nothing moved") is what node's HTTP/2 does when both
    // peers have more in flight than the TCP buffers hold: each stops reading
    // while its own socket write is pending (node's fix for CVE-2019-9517).
    const t0 = Date.now();
    const results = await Promise.allSettled(Array.from({ length: CONNS }, (_, i) => transfer(local, SIZE, i, 90_000)));
    const ms = Date.now() - t0;
    const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    const ok = results.filter((r): r is PromiseFulfilledResult<Transfer> => r.status === 'fulfilled').map((r) => r.value);
    const exact = ok.filter((r) => r.sent === SIZE && r.received === SIZE && r.sentHash === r.receivedHash).length;
    t.diagnostic(`${CONNS} connections x ${SIZE} B both ways: ${exact} byte-exact, ${failed.length} failed, ${ms} ms, ${((2 * exact * SIZE) / 2 ** 20 / (ms / 1000)).toFixed(0)} MiB/s of byte-exact echo (both directions)`);
    assert.equal(failed.length, 0, `${failed.length} of ${CONNS} failed, e.g.:\n${failed.slice(0, 3).join('\n')}`);
    assert.equal(exact, CONNS);
    assert.equal(new Set(ok.map((r) => r.sentHash)).size, CONNS, 'every connection sent distinct data');

    // 5. The restarted gateway saw one session and 200 whole connections.
    const whole = () => gatewayLogs(gw2).filter((l) => l.msg === 'connection' && l.up === SIZE && l.down === SIZE);
    await until(() => whole().length >= CONNS, "the gateway's connection lines", 20_000);
    const logs = gatewayLogs(gw2);
    assert.equal(logs.filter((l) => l.msg === 'session').length, 1, 'one session for the reconnect and all 200 connections');
    const big = whole();
    assert.equal(big.length, CONNS);
    assert.ok(big.every((l) => l.to === `127.0.0.1:${echo.port}`));
    assert.equal(new Set(big.map((l) => l.from)).size, 1, 'all from the one session');
  });
});
