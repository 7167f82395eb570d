// Name resolution at the gateway, attacked with a real gateway whose [dns]
// servers point at a fake DNS server on loopback (dns-testing.ts) that
// counts queries and never answers names under .silent.test:
//
//   client ══ insel/1 ══▶ gateway ──policy on the name──▶ c-ares ──UDP──▶ fake DNS
//
// (a) a client whose rules cannot allow a name gets an immediate refusal and
//     the gateway sends no query; (b) lookups that never answer are capped
//     per identity, the rest refused at once, and other clients' CONNECTs go
//     through meanwhile; (c) a lookup that never answers ends with a clear
//     timeout error.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestPki } from '../pki/testing.js';
import { fakeDns } from './dns-testing.js';
import { profileFiles, readIdentityFiles } from '../config/identity.js';
import { ForwardSession, GatewayRefusedError, type OpenStream } from './session.js';
import { echoServer, outcome, profiles, startGateway, until } from './testing.js';

const SILENT = (name: string) => name.endsWith('.silent.test');
const LOOKUPS = 4;

/** alice may reach anything; bob only 127.0.0.1; carol only the name named.test, port 80. */
const RULES = `
[[allow]]
name = "alice anywhere"
who = ["user:alice"]
to = ["*"]
ports = ["*"]

[[allow]]
name = "bob loopback"
who = ["user:bob@branch"]
to = ["127.0.0.1"]
ports = ["*"]

[[allow]]
name = "carol by name"
who = ["user:carol"]
to = ["named.test"]
ports = ["80"]
`;

async function setup(t: TestContext, timeout: string) {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const p = profiles(pki, ['srv', 'alice', 'bob', 'carol']);
  t.after(() => p.cleanup());
  const dns = await fakeDns({ 'named.test': '127.0.0.1', 'echo.test': '127.0.0.1' }, SILENT);
  t.after(() => dns.close());
  const echo = await echoServer();
  t.after(() => echo.close());
  const tg = await startGateway(p.dir, p.profile('srv'), RULES, `[dns]\nservers = ["${dns.server}"]\ntimeout = "${timeout}"\nhosts_file = ""\n\n[limits]\nlookups_per_identity = ${LOOKUPS}\n`);
  t.after(() => tg.close());
  const open = async (who: string) => {
    const s = await ForwardSession.open({ via: { host: '127.0.0.1', port: tg.port }, identity: readIdentityFiles(profileFiles(p.profile(who))), timeoutMs: 20_000 });
    t.after(() => s.close());
    return s;
  };
  return { dns, echo, tg, open };
}

/** 'ok', or the refusal's code: a name that resolved gives 'ok' or INSEL_UNREACHABLE (port 80 on loopback may be closed). */
const lookedUp = (p: Promise<OpenStream>) => outcome(p).then((r) => (r === 'ok' ? r : r.code));

test('a client whose rules cannot allow a name is refused at once, and the gateway sends no DNS query', async (t) => {
  const { dns, open } = await setup(t, '5s');
  const carol = await open('carol');
  const names = Array.from({ length: 40 }, (_, i) => `n${i}.silent.test`);
  const results = await Promise.all(names.map((n) => outcome(carol.connect(n, 80))));
  for (const r of results) {
    assert.ok(r instanceof GatewayRefusedError);
    assert.equal(r.refusal.status, 403);
    assert.equal(r.code, 'INSEL_POLICY_DENIED');
    assert.match(r.message, /no policy rule lets client carol connect to tcp n\d+\.silent\.test port 80/);
  }
  // Its own name on another port is refused on the name too.
  assert.ok((await outcome(carol.connect('named.test', 81))) instanceof GatewayRefusedError);
  assert.equal(dns.total(), 0, `the gateway queried ${JSON.stringify([...dns.queries])}`);
  // The name its rule allows is looked up (and is the only one).
  assert.match(await lookedUp(carol.connect('named.test', 80)), /^(ok|INSEL_UNREACHABLE)$/);
  assert.deepEqual([...dns.queries.keys()], ['named.test']);
});

test('lookups that never answer: at most lookups_per_identity in flight, the rest refused at once; others are not held up', async (t) => {
  const { dns, echo, open } = await setup(t, '4s');
  const [alice, bob, carol] = [await open('alice'), await open('bob'), await open('carol')];
  const N = 20;
  const settled: ('ok' | GatewayRefusedError)[] = [];
  const pending = Array.from({ length: N }, (_, i) => outcome(alice.connect(`n${i}.silent.test`, 80)).then((r) => void settled.push(r)));
  // Everything beyond the cap is refused without waiting for DNS.
  await until(() => settled.length === N - LOOKUPS, `${N - LOOKUPS} refusals`, 3000);
  for (const r of settled) {
    assert.ok(r instanceof GatewayRefusedError);
    assert.equal(r.refusal.status, 429);
    assert.equal(r.code, 'INSEL_LIMIT');
    assert.match(r.message, /too many DNS lookups in flight for user alice: .*\[limits\] lookups_per_identity/);
  }
  const asked = [...dns.queries.keys()].filter(SILENT);
  assert.ok(asked.length <= LOOKUPS, `${asked.length} names queried at once: ${asked.join(', ')}`);
  // Meanwhile bob's CONNECT to an IP goes through, and carol's name is looked up and dialled, while alice's lookups still hang.
  assert.equal(await outcome(bob.connect('127.0.0.1', echo.port)), 'ok');
  assert.match(await lookedUp(carol.connect('named.test', 80)), /^(ok|INSEL_UNREACHABLE)$/);
  // Alice's own lookups wait for her hanging ones.
  assert.equal(await lookedUp(alice.connect('echo.test', echo.port)), 'INSEL_LIMIT');
  assert.equal(settled.length, N - LOOKUPS, "alice's hanging lookups had not ended yet");
  await Promise.all(pending);
});

test('a lookup that never answers ends after [dns] timeout with a clear error', async (t) => {
  const { open } = await setup(t, '1s');
  const alice = await open('alice');
  const r = await outcome(alice.connect('never.silent.test', 443));
  assert.ok(r instanceof GatewayRefusedError);
  assert.equal(r.refusal.status, 504);
  assert.equal(r.code, 'INSEL_UNKNOWN_HOST');
  assert.match(r.message, /the gateway's DNS did not answer for never\.silent\.test within 1000 ms \(\[dns\] timeout in the gateway config\)/);
});
