// Helpers for end-to-end tunnel tests that change the network while traffic
// runs (ladder, roaming, MTU): a paced TCP flow between namespaces whose
// progress the test can wait on and whose bytes are checked end to end, a
// device name no other test's tunnel takes, and the routing tables as JSON.
//
//   const flow = await startFlow(lab, { from: b, to: a, host: '10.8.0.1', port: 7100 });
//   await flow.reached(1 << 20);          // 1 MiB arrived
//   … block UDP, move an address …
//   const r = await flow.finish();        // r.sentSha === r.receivedSha
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { NetnsLab } from '../hostnet/netns-testing.js';
import { waitForLine } from '../hostnet/netns-testing.js';
import { startTunnel, tempDir, tunnelPki, underlay, writeConfig, type TunnelProc } from './tunnel-testing.js';

/**
 * A tunnel device name unique to this test process: `tag` (≤ 5 letters) and
 * the pid. State files (/run/insel/redirect-<dev>.json, nat-<dev>.json) are
 * named after the device and shared by all namespaces, so two tests running
 * at once must not both use the kernel's tun0.
 */
export function uniqueDev(tag: string): string {
  if (!/^[a-z]{1,5}$/.test(tag)) throw new Error(`device tag must be 1-5 letters: ${tag}`);
  return `${tag}${process.pid}`.slice(0, 15);
}

/** `ip -j route` for v4 and v6 in `ns`, the kernel's own fields, for before/after comparisons. */
export async function routeTables(lab: NetnsLab, ns: string): Promise<{ v4: unknown[]; v6: unknown[] }> {
  const v4 = JSON.parse(await lab.run(ns, 'ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as unknown[];
  const v6 = JSON.parse(await lab.run(ns, 'ip', ['-j', '-6', 'route', 'show', 'table', 'all'])) as unknown[];
  return { v4, v6 };
}

export interface FlowResult {
  sentSha: string;
  sentBytes: number;
  receivedSha: string;
  receivedBytes: number;
}

export interface Flow {
  /** bytes the receiver has seen so far */
  progress(): number;
  /** resolves once the receiver has seen at least `bytes` (counted from now if `fromNow`); rejects after timeoutMs or if the flow dies */
  reached(bytes: number, o?: { fromNow?: boolean; timeoutMs?: number }): Promise<void>;
  /** ends the flow (a paced flow without `bytes` ends on request), resolves both ends' hashes */
  finish(timeoutMs?: number): Promise<FlowResult>;
}

export interface FlowOptions {
  from: string;
  to: string;
  host: string;
  port: number;
  /** bytes per write (default 16 KiB) */
  chunk?: number;
  /** ms between writes; 0 = as fast as the connection takes them (default 20) */
  intervalMs?: number;
  /** stop by itself after this many bytes; default: run until finish() */
  bytes?: number;
}

// The sender: random chunks, paced, hashed as sent; SIGUSR2 ends it; prints "sent SHA N" after the receiver closed.
const SENDER = `
const [host, port, chunk, interval, total] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const crypto = require('crypto');
const h = crypto.createHash('sha256');
let n = 0, stopping = false;
const c = require('net').connect({ host, port });
const finish = () => { if (!stopping) { stopping = true; c.end(); } };
process.on('SIGUSR2', finish);
const pump = () => {
  if (stopping) return;
  const size = total > 0 ? Math.min(chunk, total - n) : chunk;
  if (size <= 0) return finish();
  const d = crypto.randomBytes(size);
  h.update(d); n += size;
  const more = c.write(d);
  if (interval > 0) setTimeout(pump, interval);
  else if (more) setImmediate(pump);
  else c.once('drain', pump);
};
c.on('connect', () => { c.setNoDelay(true); console.log('connected'); pump(); });
c.resume();
c.on('close', () => { console.log('sent ' + h.digest('hex') + ' ' + n); process.exit(0); });
c.on('error', (e) => { console.error('sender: ' + e.message); process.exit(1); });
`;

// The receiver: one connection, hashed; "got N" at most every 50 ms; "received SHA N" at its end.
const RECEIVER = `
const port = Number(process.argv[1]);
const h = require('crypto').createHash('sha256');
let n = 0, told = -1;
const s = require('net').createServer((c) => {
  s.close();
  const t = setInterval(() => { if (n !== told) { told = n; console.log('got ' + n); } }, 50);
  c.on('data', (b) => { h.update(b); n += b.length; });
  c.on('end', () => { clearInterval(t); console.log('got ' + n); console.log('received ' + h.digest('hex') + ' ' + n); c.end(); });
  c.on('error', (e) => { console.error('receiver: ' + e.message); process.exit(1); });
});
s.listen(port, '::', () => console.log('listening'));
`;

/** Starts a TCP flow `from` → host:port served in `to`; resolves once it is connected. */
export async function startFlow(lab: NetnsLab, o: FlowOptions): Promise<Flow> {
  const receiver = lab.node(o.to, '-e', [RECEIVER, String(o.port)]);
  const rx = collect(receiver);
  await waitForLine(receiver, 'listening');
  const sender = lab.node(o.from, '-e', [SENDER, o.host, String(o.port), String(o.chunk ?? 16384), String(o.intervalMs ?? 20), String(o.bytes ?? 0)]);
  const tx = collect(sender);
  await waitForLine(sender, 'connected');
  let got = 0;
  const waiters = new Set<() => void>();
  receiver.stdout?.on('data', () => {
    const last = [...rx.text().matchAll(/^got (\d+)$/gm)].pop();
    if (last !== undefined) got = Number(last[1]);
    for (const w of [...waiters]) w();
  });
  const describe = () => `sender: ${tx.text().trim() || '(nothing)'} | receiver: ${rx.text().split('\n').filter((l) => !l.startsWith('got ')).join(' ').trim() || '(nothing)'}, ${got} bytes`;
  return {
    progress: () => got,
    reached(bytes, { fromNow = false, timeoutMs = 15_000 } = {}) {
      const target = fromNow ? got + bytes : bytes;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (got >= target) end(resolve);
          else if (sender.exitCode !== null || receiver.exitCode !== null) end(() => reject(new Error(`the flow ended before ${target} bytes: ${describe()}`)));
        };
        const timer = setTimeout(() => end(() => reject(new Error(`the flow did not reach ${target} bytes within ${timeoutMs} ms: ${describe()}`))), timeoutMs);
        const end = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          sender.off('exit', check);
          f();
        };
        waiters.add(check);
        sender.on('exit', check);
        check();
      });
    },
    async finish(timeoutMs = 20_000) {
      if (o.bytes === undefined && sender.exitCode === null) sender.kill('SIGUSR2');
      const [s, r] = await Promise.all([exitOf(sender, timeoutMs), exitOf(receiver, timeoutMs)]).catch((err: Error) => {
        throw new Error(`${err.message}: ${describe()}`);
      });
      const sent = /^sent ([0-9a-f]{64}) (\d+)$/m.exec(tx.text());
      const received = /^received ([0-9a-f]{64}) (\d+)$/m.exec(rx.text());
      if (s !== 0 || r !== 0 || sent === null || received === null) throw new Error(`the flow failed (sender exit ${s}, receiver exit ${r}): ${describe()}`);
      return { sentSha: sent[1]!, sentBytes: Number(sent[2]), receivedSha: received[1]!, receivedBytes: Number(received[2]) };
    },
  };
}

function collect(child: ChildProcess): { text(): string } {
  let out = '';
  const add = (b: Buffer) => (out = (out + b.toString()).slice(-65536));
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return { text: () => out };
}

function exitOf(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

export interface CaTunnel {
  /** the server's namespace (192.168.77.1) and the client's (192.168.77.2) */
  a: string;
  b: string;
  dir: string;
  server: TunnelProc;
  client: TunnelProc;
  clientDev: string;
}

/**
 * A CA-mode pair on lab's underlay: server `vpn` in a (pool 10.8.0.0/24,
 * takes 10.8.0.1), client `alice` in b; resolves once the client is on UDP.
 * `prepare` runs after the underlay is up and before anything starts (MTU, nft).
 */
export async function startCaTunnel(lab: NetnsLab, o: { tag: string; mtu?: number; prepare?: (a: string, b: string) => Promise<void> }): Promise<CaTunnel> {
  const { a, b } = await underlay(lab, o.mtu === undefined ? {} : { mtu: o.mtu });
  await o.prepare?.(a, b);
  const dir = tempDir(`tun-${o.tag}`);
  const pki = await tunnelPki(dir, { serverHosts: ['192.168.77.1'], clients: ['alice'] });
  const clientDev = uniqueDev(`${o.tag}c`);
  const server = startTunnel(lab, a, writeConfig(join(dir, 'server'), 'server.conf', [`dev ${uniqueDev(`${o.tag}s`)}`, 'server 10.8.0.0 255.255.255.0', `profile ${pki.profile['vpn']}`, `status-socket ${join(dir, 's.sock')}`]));
  await server.waitFor(/server on /);
  const client = startTunnel(lab, b, writeConfig(join(dir, 'client'), 'client.conf', ['client', `dev ${clientDev}`, 'remote 192.168.77.1', `profile ${pki.profile['alice']}`, `status-socket ${join(dir, 'c.sock')}`]));
  await client.waitFor(/transport: udp \(starting on UDP/);
  return { a, b, dir, server, client, clientDev };
}
