// Helpers the tunnel-<topic>.test.ts end-to-end files share on top of
// tunnel-testing.ts: a byte-exact TCP transfer between namespaces, the
// tunnel device's addresses as the kernel has them, and a TCP connect that
// is expected to fail.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsLab, waitForLine } from '../hostnet/netns-testing.js';
import { insel, startTunnel, tempDir, tunnelPki, writeConfig, type TunnelPki, type TunnelProc } from './tunnel-testing.js';

/** The tunnel device a daemon's start line names ("server on insel0: …", "static-key tunnel on tun0, …"). */
export function deviceIn(line: string): string {
  const m = / on ([^\s:,]+)[:,]/.exec(line);
  if (m === null) throw new Error(`no device in the line: ${line}`);
  return m[1] as string;
}

/**
 * A static-key pair's configs, dir/server/server-PID.conf and
 * dir/client/client-PID.conf, each beside its copy of one `insel genkey
 * --secret` static.key. The pid in the names keeps the default status
 * sockets (/run/insel/tunnel-NAME.sock) apart from other tests' tunnels.
 */
export async function staticPair(dir: string, server: readonly string[], client: readonly string[]): Promise<{ server: string; client: string }> {
  const [sd, cd] = [join(dir, 'server'), join(dir, 'client')];
  mkdirSync(sd, { recursive: true });
  mkdirSync(cd, { recursive: true });
  await insel(['genkey', '--secret', join(sd, 'static.key')]);
  copyFileSync(join(sd, 'static.key'), join(cd, 'static.key'));
  return { server: writeConfig(sd, `server-${process.pid}.conf`, server), client: writeConfig(cd, `client-${process.pid}.conf`, client) };
}

/** A bridged underlay: `srv` 192.168.77.1/24 and one namespace per client name (.11, .12, …), all on bridge br0 in a switch namespace. */
export async function starUnderlay<N extends string>(lab: NetnsLab, names: readonly N[]): Promise<{ srv: string; clients: Record<N, string> }> {
  const sw = await lab.ns('sw');
  await lab.bridge(sw, 'br0');
  const srv = await lab.ns('srv');
  await lab.veth({ ns: srv, dev: 'eth0', addr4: '192.168.77.1/24' }, { ns: sw, dev: 'p0', bridge: 'br0' });
  const clients = {} as Record<N, string>;
  for (const [i, name] of names.entries()) {
    clients[name] = await lab.ns(name);
    await lab.veth({ ns: clients[name], dev: 'eth0', addr4: `192.168.77.${11 + i}/24` }, { ns: sw, dev: `p${i + 1}`, bridge: 'br0' });
  }
  return { srv, clients };
}

/** A lab for CA-mode tests: starUnderlay's namespaces, a temporary directory and a PKI with a client per name. */
export interface CaLab<N extends string> {
  lab: NetnsLab;
  srv: string;
  clients: Record<N, string>;
  dir: string;
  pki: TunnelPki;
}

export async function caLab<N extends string>(part: string, names: readonly N[]): Promise<CaLab<N>> {
  const lab = await NetnsLab.create(part);
  try {
    const { srv, clients } = await starUnderlay(lab, names);
    const dir = tempDir(part);
    const pki = await tunnelPki(dir, { serverHosts: ['192.168.77.1'], clients: [...names] });
    return { lab, srv, clients, dir, pki };
  } catch (err) {
    await lab.cleanup();
    throw err;
  }
}

/** A CA server's config in dir/server (pools 10.8.0.0/24 and fd00:8::/64, profile `profile`) plus `extra` lines. */
export function caServerConfig(dir: string, profile: string, extra: readonly string[] = []): string {
  const sd = join(dir, 'server');
  return writeConfig(sd, 'server.conf', ['dev tun', 'server 10.8.0.0 255.255.255.0', 'server-ipv6 fd00:8::/64', `profile ${profile}`, `status-socket ${join(sd, 'status.sock')}`, ...extra]);
}

/** A CA client's config in dir/name for the server at 192.168.77.1 plus `extra` lines. */
export function caClientConfig(dir: string, name: string, profile: string, extra: readonly string[] = []): string {
  const cd = join(dir, name);
  return writeConfig(cd, 'client.conf', ['client', 'dev tun', 'remote 192.168.77.1', `profile ${profile}`, `status-socket ${join(cd, 'status.sock')}`, ...extra]);
}

/** Starts one end of a static-key pair and resolves once its device is up (the peer may come later). */
export async function startStatic(lab: NetnsLab, ns: string, conf: string): Promise<TunnelProc> {
  const t = startTunnel(lab, ns, conf);
  await t.waitFor(/static-key tunnel on /);
  return t;
}

/** Starts a CA server and resolves once it serves. */
export async function startCaServer(lab: NetnsLab, ns: string, conf: string): Promise<TunnelProc> {
  const s = startTunnel(lab, ns, conf);
  await s.waitFor(/server on /);
  return s;
}

/** Starts a CA client and resolves once its first session is up. */
export async function startCaClient(lab: NetnsLab, ns: string, conf: string): Promise<TunnelProc> {
  const c = startTunnel(lab, ns, conf);
  await c.waitFor(/connected to /);
  return c;
}

/** The TUN or TAP device in `ns` (a namespace runs one tunnel); throws if there is none. */
export async function tunDevice(lab: NetnsLab, ns: string): Promise<string> {
  const links = JSON.parse(await lab.run(ns, 'ip', ['-j', '-d', 'link', 'show'])) as { ifname: string; linkinfo?: { info_kind?: string } }[];
  const dev = links.find((l) => l.linkinfo?.info_kind === 'tun');
  if (dev === undefined) throw new Error(`no TUN/TAP device in ${ns}`);
  return dev.ifname;
}

/** Resolves when `proc` has printed `n` lines matching `re` (a second connect, a reconnect); bounded by timeoutMs. */
export async function waitForCount(proc: TunnelProc, re: RegExp, n: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const count = proc.output().split('\n').filter((l) => re.test(l)).length;
    if (count >= n) return;
    if (Date.now() > deadline) throw new Error(`${count} of ${n} lines matching ${re} within ${timeoutMs} ms; the tunnel printed:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The global addresses of `dev` in `ns` from `ip -j addr` (without prefix length). */
export async function deviceAddresses(lab: NetnsLab, ns: string, dev: string): Promise<{ v4: string[]; v6: string[] }> {
  const out = await lab.run(ns, 'ip', ['-j', 'addr', 'show', 'dev', dev]);
  const links = JSON.parse(out) as { addr_info?: { family: string; local: string; scope: string }[] }[];
  const infos = links.flatMap((l) => l.addr_info ?? []).filter((a) => a.scope === 'global');
  return { v4: infos.filter((a) => a.family === 'inet').map((a) => a.local), v6: infos.filter((a) => a.family === 'inet6').map((a) => a.local) };
}

export interface TransferResult {
  sentSha: string;
  receivedSha: string;
  receivedBytes: number;
}

/**
 * Sends `bytes` random bytes over TCP from `fromNs` to host:port, served by a
 * sink in `toNs` that hashes what it gets; resolves both SHA-256s. Bounded
 * by `timeoutMs` on each side.
 */
export async function tcpTransfer(lab: NetnsLab, fromNs: string, toNs: string, host: string, port: number, bytes: number, timeoutMs = 20_000): Promise<TransferResult> {
  const sinkCode = [
    `const h=require('crypto').createHash('sha256');let n=0;`,
    `const s=require('net').createServer(c=>{c.on('data',b=>{h.update(b);n+=b.length});c.on('end',()=>{console.log(h.digest('hex')+' '+n);c.end();s.close()})});`,
    `s.listen(${port},'::',()=>console.log('listening'));setTimeout(()=>process.exit(3),${timeoutMs}).unref()`,
  ].join('');
  const sink = lab.node(toNs, '-e', [sinkCode]);
  let sinkOut = '';
  sink.stdout?.on('data', (b: Buffer) => (sinkOut += b.toString()));
  await waitForLine(sink, 'listening');
  const done = new Promise<string>((resolve, reject) => {
    sink.once('exit', (code) => {
      const line = sinkOut.split('\n').find((l) => /^[0-9a-f]{64} \d+$/.test(l));
      if (line === undefined) reject(new Error(`the sink exited (${code}) without a hash: ${sinkOut}`));
      else resolve(line);
    });
  });
  const sourceCode = [
    `const d=require('crypto').randomBytes(${bytes});const sha=require('crypto').createHash('sha256').update(d).digest('hex');`,
    `const c=require('net').connect({host:${JSON.stringify(host)},port:${port}},()=>c.end(d));`,
    `c.resume();c.on('close',()=>console.log(sha));c.on('error',e=>{console.error(e.message);process.exit(1)});`,
    `setTimeout(()=>{console.error('timeout');process.exit(2)},${timeoutMs}).unref()`,
  ].join('');
  const sentSha = (await lab.runNode(fromNs, ['-e', sourceCode], { timeoutMs: timeoutMs + 5000, hint: `is ${host}:${port} reachable from ${fromNs}?` })).trim();
  const [receivedSha, n] = (await done).split(' ') as [string, string];
  return { sentSha, receivedSha, receivedBytes: Number(n) };
}

/** Whether a TCP connection from `ns` to host:port succeeds within timeoutMs (false on refusal, unreachability or timeout). */
export async function tcpConnects(lab: NetnsLab, ns: string, host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return lab.tcpRead(ns, host, port, timeoutMs).then(
    () => true,
    () => false,
  );
}
