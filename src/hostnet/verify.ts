// The checks of `insel verify` (like `ipsec verify` in Openswan): can this
// host run a tunnel, and are the files and ports a config names in order?
// Each check is one { name, ok, detail }; none changes anything (ports are
// bound for a moment and released).
import { X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { profileFiles } from '../config/identity.js';
import type { TunnelConfig } from '../tunconfig/index.js';
import { CommandError } from './errors.js';
import { run } from './exec.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** What verify reads of a TunnelConfig: tests give just these fields. */
export type VerifyConfig = Pick<TunnelConfig, 'mode' | 'proto' | 'port' | 'tcpPort' | 'local' | 'secret' | 'key' | 'cert' | 'ca' | 'profile' | 'authUsers' | 'authUserPass' | 'push' | 'nat'>;

/** A certificate this close to its end is reported (still OK) so it gets renewed in time. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;
/** CAP_NET_ADMIN's bit in the capability sets (linux/capability.h). */
const CAP_NET_ADMIN = 12n;

/** Every check for this host, and with `config` those of the files and ports it names. */
export async function verifyChecks(config?: VerifyConfig): Promise<Check[]> {
  const checks = [checkTunDevice(), checkNetAdmin(readFileSync('/proc/self/status', 'utf8')), checkIpForward(readIpForward(), forwardingNeed(config))];
  const nat = config === undefined || config.nat !== undefined;
  checks.push(nat ? await checkFirewallTool() : { name: 'nft/iptables', ok: true, detail: 'not needed (no `nat`)' });
  if (config === undefined) return checks;
  const profile = config.profile === undefined ? undefined : profileFiles(config.profile);
  const [cert, key, ca] = [config.cert ?? profile?.certFile, config.key ?? profile?.keyFile, config.ca ?? profile?.caFile];
  for (const file of [config.secret, key, config.authUsers, config.authUserPass]) if (file !== undefined) checks.push(checkKeyFile(file));
  if (cert !== undefined) checks.push(checkCertificate(cert, ca));
  if (ca !== undefined) checks.push(checkCertificate(ca));
  for (const [proto, port] of listenPorts(config)) checks.push(await checkPortFree(proto, port, config.local));
  return checks;
}

/** The ports a config's daemon listens on: a server its UDP port (unless TCP only) and its TCP port; a static-key peer its port; a client none. */
function listenPorts(c: VerifyConfig): ['udp' | 'tcp', number][] {
  if (c.mode === 'client') return [];
  if (c.mode === 'static') return [c.proto === 'udp' ? ['udp', c.port] : ['tcp', c.tcpPort]];
  return c.proto === 'udp' ? [['udp', c.port], ['tcp', c.tcpPort]] : [['tcp', c.tcpPort]];
}

/** /dev/net/tun exists and opens read-write (the TUN driver is loaded and we may use it). */
export function checkTunDevice(path = '/dev/net/tun'): Check {
  const name = 'tun device';
  try {
    closeSync(openSync(path, constants.O_RDWR));
    return { name, ok: true, detail: `${path} opens` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? 'load the driver (modprobe tun); in a container, pass --device /dev/net/tun' : 'run as root';
    return { name, ok: false, detail: `${path}: ${code ?? String(err)}; ${hint}` };
  }
}

/** CAP_NET_ADMIN in the effective set, from the text of /proc/self/status. */
export function checkNetAdmin(procStatus: string): Check {
  const name = 'CAP_NET_ADMIN';
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(procStatus);
  if (m === null) return { name, ok: false, detail: 'no CapEff line in /proc/self/status' };
  const ok = ((BigInt(`0x${m[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n;
  return { name, ok, detail: ok ? 'held (TUN devices, addresses, routes and NAT can be set)' : 'missing: run insel tunnel as root (it drops to `user`/`group` after setup)' };
}

function readIpForward(): string {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  } catch {
    return 'unreadable';
  }
}

/** Whether the config needs the kernel to forward: a server that routes clients beyond itself, without `nat` (which turns forwarding on). */
export type ForwardingNeed = 'needed' | 'set-by-nat' | 'not-needed' | 'unknown';

function forwardingNeed(c: VerifyConfig | undefined): ForwardingNeed {
  if (c === undefined) return 'unknown';
  if (c.nat !== undefined) return 'set-by-nat';
  const routes = c.mode === 'server' && c.push.some((p) => p.kind === 'route' || p.kind === 'route-ipv6' || p.kind === 'redirect-gateway');
  return routes ? 'needed' : 'not-needed';
}

export function checkIpForward(value: string, need: ForwardingNeed): Check {
  const name = 'ip_forward';
  if (value === '1') return { name, ok: true, detail: 'net.ipv4.ip_forward = 1' };
  switch (need) {
    case 'needed':
      return { name, ok: false, detail: `net.ipv4.ip_forward = ${value}: the server pushes routes but the kernel will not forward; add \`nat\` or sysctl -w net.ipv4.ip_forward=1` };
    case 'set-by-nat':
      return { name, ok: true, detail: `net.ipv4.ip_forward = ${value}; \`nat\` turns it on at start` };
    case 'not-needed':
      return { name, ok: true, detail: `net.ipv4.ip_forward = ${value} (not needed by this config)` };
    case 'unknown':
      return { name, ok: true, detail: `net.ipv4.ip_forward = ${value} (a server that routes clients needs 1; \`nat\` sets it)` };
  }
}

/** nft or, failing that, iptables runs (the server's `nat` needs one). */
export async function checkFirewallTool(): Promise<Check> {
  const name = 'nft/iptables';
  for (const cmd of ['nft', 'iptables']) {
    try {
      const version = (await run(cmd, ['--version'])).trim();
      return { name, ok: true, detail: version };
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
    }
  }
  return { name, ok: false, detail: 'neither nft nor iptables runs: apt-get install nftables' };
}

/** A private key file: a regular file, readable, no access for group or others. */
export function checkKeyFile(file: string): Check {
  const name = `key ${file}`;
  try {
    const st = statSync(file);
    if (!st.isFile()) return { name, ok: false, detail: 'not a regular file' };
    const mode = st.mode & 0o777;
    if ((mode & 0o077) !== 0) return { name, ok: false, detail: `mode 0${mode.toString(8)}: group or others can read the key; chmod 600 ${file}` };
    closeSync(openSync(file, 'r'));
    return { name, ok: true, detail: `mode 0${mode.toString(8)}` };
  } catch (err) {
    return { name, ok: false, detail: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (err as Error).message };
  }
}

/** A PEM certificate: parses, is valid now, not within EXPIRY_WARNING_DAYS of its end (reported, still OK), and, given `caFile`, issued by that CA. */
export function checkCertificate(file: string, caFile?: string, now = new Date()): Check {
  const name = `certificate ${file}`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { name, ok: false, detail: code === 'ENOENT' ? 'missing' : `not a PEM certificate: ${(err as Error).message}` };
  }
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now < from) return { name, ok: false, detail: `not valid before ${from.toISOString()}; check the clock` };
  if (now > to) return { name, ok: false, detail: `expired on ${to.toISOString()}; issue a new one (insel pki issue)` };
  if (caFile !== undefined) {
    try {
      const ca = new X509Certificate(readFileSync(caFile));
      if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return { name, ok: false, detail: `not issued by the CA in ${caFile}` };
    } catch (err) {
      return { name, ok: false, detail: `cannot read the CA ${caFile}: ${(err as Error).message}` };
    }
  }
  const days = Math.floor((to.getTime() - now.getTime()) / DAY_MS);
  const soon = days < EXPIRY_WARNING_DAYS ? `; WARNING: expires in ${days} days, renew it` : '';
  return { name, ok: true, detail: `${cert.subject.replace(/\n/g, ', ')}, valid until ${to.toISOString()}${soon}` };
}

/** The port can be bound now (on `host`, default all addresses): no other tunnel or program holds it. */
export async function checkPortFree(proto: 'udp' | 'tcp', port: number, host?: string): Promise<Check> {
  const name = `${proto} port ${port}`;
  try {
    await (proto === 'udp' ? bindUdp(port, host) : listenTcp(port, host));
    return { name, ok: true, detail: `free${host === undefined ? '' : ` on ${host}`}` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail = code === 'EADDRINUSE' ? `in use; what holds it: ss -${proto === 'udp' ? 'u' : 't'}lnp sport = :${port}` : code === 'EACCES' ? 'a port below 1024 needs root' : (err as Error).message;
    return { name, ok: false, detail };
  }
}

/** Binds and releases; without `host`, on :: (dual stack: a v4 holder of the port is seen too), or 0.0.0.0 where IPv6 is off. */
async function bindUdp(port: number, host: string | undefined): Promise<void> {
  if (host !== undefined) return bindUdpOn(port, host.includes(':') ? 'udp6' : 'udp4', host);
  try {
    await bindUdpOn(port, 'udp6', undefined);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
    await bindUdpOn(port, 'udp4', undefined);
  }
}

function bindUdpOn(port: number, type: 'udp4' | 'udp6', host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createSocket(type);
    s.once('error', (err) => {
      s.close();
      reject(err);
    });
    s.bind({ port, ...(host === undefined ? {} : { address: host }), exclusive: true }, () => s.close(() => resolve()));
  });
}

function listenTcp(port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ port, ...(host === undefined ? {} : { host }), exclusive: true }, () => s.close(() => resolve()));
  });
}
