// What an eavesdropper on the underlay sees: tcpdump on the client's eth0
// while a unique marker goes through the tunnel (to the server's pool
// address and echoed back) and, as the control that proves the check can
// fail, another marker sent to the server directly over the underlay. The
// capture holds the tunnel's UDP datagrams and the direct marker, never the
// tunnelled one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsLab, netnsMissing, toolMissing, waitForLine } from '../hostnet/netns-testing.js';
import { startCaTunnel } from './tunnel-flow-testing.js';

const skip = netnsMissing() ?? toolMissing('tcpdump', ['--version'], 'tcpdump');

let lab: NetnsLab;

before(async () => {
  if (skip !== undefined) return;
  lab = await NetnsLab.create('tuncapture');
});

after(async () => {
  if (lab !== undefined) await lab.cleanup();
});

/** Sends `marker` from `ns` to an echo server at host:port and resolves once it came back. */
async function echoMarker(ns: string, host: string, port: number, marker: string): Promise<void> {
  const code = `const c=require('net').connect({host:${JSON.stringify(host)},port:${port}},()=>c.write(${JSON.stringify(marker)}));let d='';c.on('data',b=>{d+=b;if(d.includes(${JSON.stringify(marker)}))c.end()});c.on('close',()=>process.exit(d.includes(${JSON.stringify(marker)})?0:3));c.on('error',e=>{console.error(e.message);process.exit(1)});setTimeout(()=>process.exit(2),5000)`;
  await lab.runNode(ns, ['-e', code], { timeoutMs: 10_000, hint: `echo to ${host}:${port}` });
}

test('a capture on the underlay holds no trace of a marker sent through the tunnel; the same capture catches one sent directly', { skip, timeout: 60_000 }, async () => {
  const { a, b, dir, server, client } = await startCaTunnel(lab, { tag: 'cap' });
  await client.waitFor(/connected to vpn/);

  const echo = lab.node(a, '-e', [`require('net').createServer(c=>c.pipe(c)).listen(7200,'::',()=>console.log('listening'))`]);
  await waitForLine(echo, 'listening');

  const file = join(dir, 'underlay.pcap');
  const tcpdump = lab.spawn(b, 'tcpdump', ['-i', 'eth0', '-n', '--immediate-mode', '-U', '-s', '0', '-w', file]);
  let tcpdumpErr = '';
  tcpdump.stderr?.on('data', (d: Buffer) => (tcpdumpErr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${tcpdumpErr}`)), 10_000);
    tcpdump.stderr?.on('data', () => /listening on/.test(tcpdumpErr) && (clearTimeout(timer), resolve()));
    tcpdump.once('exit', (code) => (clearTimeout(timer), reject(new Error(`tcpdump exited (${code}): ${tcpdumpErr}`))));
  });

  const secret = `insel-marker-tunnel-${randomBytes(12).toString('hex')}`;
  const plain = `insel-marker-direct-${randomBytes(12).toString('hex')}`;
  await echoMarker(b, '10.8.0.1', 7200, secret);
  await echoMarker(b, '192.168.77.1', 7200, plain);

  // The direct marker went last: once it is in the file, so is everything before it.
  for (let n = 0; n < 50 && !readFileSync(file).includes(Buffer.from(plain)); n++) await new Promise((r) => setTimeout(r, 100));
  const exited = new Promise((r) => tcpdump.once('exit', r));
  tcpdump.kill('SIGINT');
  await exited;
  const pcap = readFileSync(file);
  assert.ok(pcap.includes(Buffer.from(plain)), `the control: a marker sent directly over the underlay is in the capture (${pcap.length} bytes; tcpdump said: ${tcpdumpErr})`);
  assert.ok(!pcap.includes(Buffer.from(secret)), 'the marker sent through the tunnel is not');
  assert.ok(!pcap.includes(Buffer.from(secret.slice(-12))), 'not even its last 12 characters');
  const udp = await lab.run(b, 'tcpdump', ['-n', '-r', file, 'udp and port 1194']);
  assert.ok(udp.split('\n').filter((l) => l.includes('192.168.77.1.1194')).length >= 2, `the tunnel's datagrams crossed the captured link:\n${udp}`);

  assert.equal(await client.stop(), 0);
  assert.equal(await server.stop(), 0);
});
