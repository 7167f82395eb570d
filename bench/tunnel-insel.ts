// insel's rows of the tunnel bench: `insel tunnel --config FILE` at both
// ends of the lab's veth, in the two modes of issue 14 §2:
//
// - static key: seed 004's server.conf and client.conf, their lines
//   unchanged (`dev tun` / `ifconfig 10.0.0.1 10.0.0.2` / `secret static.key`
//   / `comp-lzo`, the client with `remote SERVER`), static.key from
//   `insel genkey --secret`, on the default port;
// - CA mode: `server 10.8.0.0 255.255.255.0` with certificates from insel's
//   PKI, a `client` with `remote SERVER 1196`, AES-256-GCM, the TLS control
//   connection on `tcp-port 8443` (insel's directive; default 443).
//
// A row whose tunnel does not carry a ping within UP_MS of starting is "not
// available" with the reason (e.g. no `insel tunnel` command in this build).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCa, issueCert } from '../src/pki/index.js';
import { exportProfile } from '../src/pki/export.js';
import { starting, stopAll } from './forward-paths.js';
import { run, runOk, type Proc } from './forward-procs.js';
import { UNDERLAY, UP_MS, type Lab, type MultiClientHandle, type TunnelHandle } from './tunnel-lab.js';
import type { Netns } from './tunnel-netns.js';

/** Seed 004's tunnel addresses. */
const STATIC = { server: '10.0.0.1', client: '10.0.0.2' } as const;
/**
 * CA mode: the pool (the server takes .1), and UDP and TLS/TCP ports apart
 * from whatever the static-key pair binds by default in the same namespace.
 */
const CA = { net: '10.8.0', port: 1196, tcpPort: 8443 } as const;

const cliPath = (root: string) => join(root, 'dist', 'src', 'cli', 'main.js');

/** The built CLI, if it has `insel tunnel`; else throws saying what is missing. */
async function tunnelCli(root: string): Promise<string> {
  const cli = cliPath(root);
  if (!existsSync(cli)) throw new Error(`${cli} missing: run npm run build`);
  const r = await run(process.execPath, [cli, 'tunnel', '--help'], 30_000);
  // commander answers `insel NOSUCH --help` with the top-level help and exit 0.
  if (r.code !== 0 || !r.stdout.includes('Usage: insel tunnel')) throw new Error('no `insel tunnel` command in this build yet');
  return cli;
}

function writeConf(dir: string, name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

/** `insel tunnel --config FILE` in `ns`, run from the config's directory (relative key paths work either way). */
function spawnTunnel(ns: Netns, label: string, cli: string, conf: string, dir: string): Proc {
  return ns.spawn(label, process.execPath, [cli, 'tunnel', '--config', conf], { cwd: dir });
}

export function startInselStatic(lab: Lab): Promise<TunnelHandle> {
  return starting(async (procs) => {
    const cli = await tunnelCli(lab.root);
    const dir = join(lab.tmp, 'insel-static');
    mkdirSync(dir, { mode: 0o700 });
    await runOk(process.execPath, [cli, 'genkey', '--secret', join(dir, 'static.key')], 30_000);
    // Seed 004's files, line for line; only the file names are unique (run's tag, mode, end),
    // because the daemon's status socket is named after the config file.
    const server = writeConf(dir, `bench-${lab.tag}-static-server.conf`, ['dev tun', `ifconfig ${STATIC.server} ${STATIC.client}`, 'secret static.key', 'comp-lzo']);
    const client = writeConf(dir, `bench-${lab.tag}-static-client.conf`, [`remote ${UNDERLAY.server}`, 'dev tun', `ifconfig ${STATIC.client} ${STATIC.server}`, 'secret static.key', 'comp-lzo']);
    const s = spawnTunnel(lab.server, 'insel tunnel (static, server)', cli, server, dir);
    procs.push(s);
    const c = spawnTunnel(lab.client, 'insel tunnel (static, client)', cli, client, dir);
    procs.push(c);
    await lab.client.waitPing(STATIC.server, UP_MS, procs);
    return {
      addr: STATIC.server,
      protection: 'static key (seed 004 files), keys per session via HKDF, AES-256-GCM',
      serverPid: s.child.pid,
      clientPid: c.child.pid,
      stop: stopAll(procs),
    };
  });
}

/** The CA-mode pair; each further client gets a certificate of its own. */
export function startInselCa(lab: Lab): Promise<MultiClientHandle> {
  return starting(async (procs) => {
    const cli = await tunnelCli(lab.root);
    const dir = join(lab.tmp, 'insel-ca');
    const pki = join(dir, 'pki');
    mkdirSync(dir, { mode: 0o700 });
    await initCa({ dir: pki, org: 'Bench' });
    /** Issues `name` and writes its profile (cert.pem, key.pem, ca.pem) under dir/NAME. */
    const profile = async (name: string, role: 'server' | 'client', hosts?: string[]) => {
      await issueCert({ dir: pki, role, name, hosts, days: 2 });
      return exportProfile({ dir: pki, name, out: join(dir, name) }).dir;
    };
    const pem = (p: string) => [`ca ${join(p, 'ca.pem')}`, `cert ${join(p, 'cert.pem')}`, `key ${join(p, 'key.pem')}`];
    const srv = await profile('server', 'server', [UNDERLAY.server]);
    const server = writeConf(dir, `bench-${lab.tag}-ca-server.conf`, [
      'dev tun', 'proto udp', `port ${CA.port}`, `tcp-port ${CA.tcpPort}`, `server ${CA.net}.0 255.255.255.0`, 'data-ciphers AES-256-GCM', 'keepalive 10 60', ...pem(srv),
    ]);
    const s = spawnTunnel(lab.server, 'insel tunnel (CA, server)', cli, server, dir);
    procs.push(s);
    const spawnClient = async (ns: Netns, remote: string, name: string) => {
      const conf = writeConf(dir, `bench-${lab.tag}-ca-${name}.conf`, ['client', 'dev tun', 'proto udp', `remote ${remote} ${CA.port}`, `tcp-port ${CA.tcpPort}`, 'data-ciphers AES-256-GCM', ...pem(await profile(name, 'client'))]);
      return spawnTunnel(ns, `insel tunnel (CA, ${name})`, cli, conf, dir);
    };
    const c = await spawnClient(lab.client, UNDERLAY.server, 'client');
    procs.push(c);
    await lab.client.waitPing(`${CA.net}.1`, UP_MS, procs);
    return {
      addr: `${CA.net}.1`,
      protection: 'CA mode: mutual TLS 1.3 control, SecSockets UDP data channel, AES-256-GCM',
      serverPid: s.child.pid,
      clientPid: c.child.pid,
      stop: stopAll(procs),
      spawnClient,
    };
  });
}
