// The tunnels insel is measured against, each started over the lab's veth:
// none (the plain veth), wireguard-go, and OpenVPN 2.6. Each start function
// returns a TunnelHandle once a ping crosses the tunnel, or throws with the
// reason (then the row says "not available: <why>").
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run as runInput } from '../src/hostnet/exec.js';
import { starting, stopAll } from './forward-paths.js';
import { ensureTool, run, runOk, type Proc } from './forward-procs.js';
import { TUN_MTU, UNDERLAY, UP_MS, type Lab, type MultiClientHandle, type TunnelHandle } from './tunnel-lab.js';
import type { Netns } from './tunnel-netns.js';

const WG = { net: '10.201.0', port: 51820 } as const;
const OVPN = { net: '10.202.0', port: 1195, dev: 'ovpn0' } as const;
const WG_SOCKETS = '/var/run/wireguard';

export async function startVeth(): Promise<TunnelHandle> {
  return { addr: UNDERLAY.server, protection: 'none (the underlay itself)', stop: async () => {} };
}

async function until(what: string, ms: number, ok: () => boolean, proc: Proc): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (!proc.alive) throw new Error(`${proc.name} exited: ${proc.lastWords()}`);
    if (Date.now() > deadline) throw new Error(`${what} not there after ${ms} ms; ${proc.name}: ${proc.lastWords()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function wireguardVersion(): Promise<string> {
  const r = await run(await ensureTool(['wireguard-go'], 'wireguard-go'), ['--version'], 5000);
  return r.stdout.split('\n')[0]?.trim() || 'wireguard-go (version unknown)';
}

/** The UAPI sockets live in one directory for all namespaces: the device names carry the run's tag. */
const wgDevices = (tag: string) => [`wgb${tag}s`, `wgb${tag}c`] as const;

/** What a SIGKILLed wireguard-go leaves behind (for exit handlers too: synchronous). */
export function removeWireguardSockets(tag: string): void {
  for (const dev of wgDevices(tag)) rmSync(join(WG_SOCKETS, `${dev}.sock`), { force: true });
}

/** wireguard-go at both ends: `wireguard-go -f`, keys from `wg genkey`, set up with `wg set` and `ip`. */
export function startWireguard(lab: Lab): Promise<TunnelHandle> {
  return starting(async (procs) => {
    const wgGo = await ensureTool(['wireguard-go'], 'wireguard-go');
    const wg = await ensureTool(['wg'], 'wireguard-tools');
    const dir = join(lab.tmp, 'wg');
    mkdirSync(dir, { mode: 0o700 });
    const [serverDev, clientDev] = wgDevices(lab.tag);
    const ends = [
      { ns: lab.server, dev: serverDev, addr: `${WG.net}.1`, underlay: UNDERLAY.server },
      { ns: lab.client, dev: clientDev, addr: `${WG.net}.2`, underlay: UNDERLAY.client },
    ];
    const keys = [];
    for (const e of ends) {
      const priv = (await runOk(wg, ['genkey'], 5000)).stdout.trim();
      const file = join(dir, `${e.dev}.key`);
      writeFileSync(file, `${priv}\n`, { mode: 0o600 });
      keys.push({ file, pub: (await runInput(wg, ['pubkey'], { input: `${priv}\n` })).trim() });
    }
    const sockets = ends.map((e) => join(WG_SOCKETS, `${e.dev}.sock`));
    const pids: number[] = [];
    for (const [i, e] of ends.entries()) {
      const p = e.ns.spawn(`wireguard-go ${e.dev}`, wgGo, ['-f', e.dev]);
      procs.push(p);
      pids.push(p.child.pid ?? 0);
      await until(`wireguard-go's UAPI socket ${sockets[i]}`, UP_MS, () => existsSync(sockets[i] as string), p);
    }
    for (const [i, e] of ends.entries()) {
      const other = ends[1 - i] as (typeof ends)[number];
      const peerPub = (keys[1 - i] as { pub: string }).pub;
      const key = (keys[i] as { file: string }).file;
      await e.ns.run(wg, ['set', e.dev, 'private-key', key, 'listen-port', String(WG.port), 'peer', peerPub, 'allowed-ips', `${other.addr}/32`, 'endpoint', `${other.underlay}:${WG.port}`]);
      await e.ns.ip(['address', 'add', `${e.addr}/24`, 'dev', e.dev]);
      await e.ns.ip(['link', 'set', e.dev, 'mtu', String(TUN_MTU), 'up']);
    }
    await lab.client.waitPing(`${WG.net}.1`, UP_MS, procs);
    const stopProcs = stopAll(procs);
    return {
      addr: `${WG.net}.1`,
      protection: 'WireGuard: Noise IK (Curve25519), ChaCha20-Poly1305',
      serverPid: pids[0],
      clientPid: pids[1],
      stop: async () => {
        await stopProcs();
        removeWireguardSockets(lab.tag);
      },
    };
  });
}

export async function openvpnVersion(): Promise<string> {
  const r = await run(await ensureTool(['openvpn'], 'openvpn'), ['--version'], 5000);
  return r.stdout.split('\n')[0]?.replace(/ \[.*$/, '').trim() || 'OpenVPN (version unknown)';
}

/** A throwaway ECDSA P-256 CA and a server and a client certificate from it, with the usages OpenVPN checks. */
async function opensslPki(dir: string): Promise<Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>> {
  const openssl = await ensureTool(['openssl'], 'openssl');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
  const f = (n: string) => join(dir, n);
  await runOk(openssl, ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=bench CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], 20_000);
  const leaf = (name: string, eku: string) =>
    runOk(openssl, ['req', '-x509', ...ec, '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`), '-subj', `/CN=bench ${name}`,
      '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature,keyAgreement', '-addext', `extendedKeyUsage=${eku}`], 20_000);
  await leaf('server', 'serverAuth');
  await leaf('client', 'clientAuth');
  return { ca: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
}

function writeConf(file: string, lines: string[]): string {
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

/**
 * OpenVPN 2.6 as people run it against a CA: a TLS server (`server` pool,
 * topology subnet) and a client with certificates, UDP, AES-256-GCM only, no
 * compression, the same inner MTU as the others. DCO off (`disable-dco`): the
 * ovpn-dco kernel module is not part of Debian's kernel, so this is the
 * userspace data path. The server listens on every address and lets the
 * memory row's further clients share the client certificate (duplicate-cn).
 */
export function startOpenvpn(lab: Lab): Promise<MultiClientHandle> {
  return starting(async (procs) => {
    const openvpn = await ensureTool(['openvpn'], 'openvpn');
    const dir = join(lab.tmp, 'openvpn');
    mkdirSync(dir, { mode: 0o700 });
    const pki = await opensslPki(dir);
    const common = ['dev ' + OVPN.dev, 'dev-type tun', 'proto udp', 'data-ciphers AES-256-GCM', 'allow-compression no', `tun-mtu ${TUN_MTU}`, 'disable-dco', 'verb 3', `ca ${pki.ca}`];
    const server = writeConf(join(dir, 'server.conf'), [
      ...common, `port ${OVPN.port}`, `server ${OVPN.net}.0 255.255.255.0`, 'topology subnet', 'dh none', 'keepalive 10 60', 'duplicate-cn',
      `cert ${pki.serverCert}`, `key ${pki.serverKey}`,
    ]);
    const spawnClient = async (ns: Netns, remote: string, name: string) => {
      const conf = writeConf(join(dir, `${name}.conf`), [
        ...common, 'client', `remote ${remote} ${OVPN.port}`, 'nobind', 'remote-cert-tls server', `cert ${pki.clientCert}`, `key ${pki.clientKey}`,
      ]);
      return ns.spawn(`openvpn ${name}`, openvpn, ['--config', conf, '--cd', dir]);
    };
    const s = lab.server.spawn('openvpn server', openvpn, ['--config', server, '--cd', dir]);
    procs.push(s);
    await s.waitLine(/Initialization Sequence Completed/, UP_MS);
    const c = await spawnClient(lab.client, UNDERLAY.server, 'client');
    procs.push(c);
    const control = c.waitLine(/Control Channel: (TLSv[\d.]+), cipher \S+ ([A-Z0-9_]+)/, UP_MS);
    const data = c.waitLine(/Data Channel: [Cc]ipher '([^']+)'/, UP_MS);
    control.catch(() => undefined);
    data.catch(() => undefined);
    await c.waitLine(/Initialization Sequence Completed/, UP_MS);
    await lab.client.waitPing(`${OVPN.net}.1`, UP_MS, procs);
    const [ctl, dat] = await Promise.all([control.catch(() => undefined), data.catch(() => undefined)]);
    return {
      addr: `${OVPN.net}.1`,
      protection: `${ctl ? `${ctl[1]} ${ctl[2]}` : 'TLS'} control, ${dat ? dat[1] : 'AES-256-GCM'} data, DCO off`,
      serverPid: s.child.pid,
      clientPid: c.child.pid,
      stop: stopAll(procs),
      spawnClient,
    };
  });
}
