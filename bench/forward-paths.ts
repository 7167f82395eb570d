// The forwarders the forward bench compares, each started on loopback in
// front of the target: a plain Node relay, ssh -L through a private sshd,
// a stunnel client/server pair, and insel forward through an insel gateway.
// Each path forwards two ports through one instance (one relay process, one
// ssh connection, one stunnel pair, one insel session): to the target and to
// a second target for the head-of-line echoes, so the echo is not delayed by
// the target's own event loop sinking the bulk. Each start function returns
// the local ports to dial, what protects the traffic, and a stop function; it
// throws (with the reason) when it cannot run.
// The insel gateway also takes UDP, for `insel forward -U` (forwardUdp), and
// SOCKS5 clients through `insel forward -D` (forwardDynamic): TCP and UDP
// ASSOCIATE, to the same targets.
import { mkdirSync, writeFileSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { Proc, ensureTool, freePort, run, runOk, waitEcho, waitListening } from './forward-procs.js';

/** Where a path forwards to: the target (bulk, new connections) and the echo target (head-of-line). */
export interface Targets {
  target: number;
  echo: number;
}

export interface PathHandle {
  /** Forwarded to Targets.target. */
  port: number;
  /** Forwarded to Targets.echo, through the same instance; absent for UDP paths. */
  echoPort?: number;
  /** A SOCKS5 path (forward -D): port and echoPort are the targets' own, reached through this proxy port. */
  socks?: number;
  protection: string;
  stop(): Promise<void>;
}

const START_MS = 20_000;

/** Waits until each of `ports` echoes through `proc`. */
async function waitEchoes(ports: number[], proc: Proc): Promise<void> {
  for (const port of ports) await waitEcho(port, START_MS, proc);
}

/** Stops every process, last started first. */
export function stopAll(procs: Proc[]): () => Promise<void> {
  return async () => {
    for (const p of procs.slice().reverse()) await p.stop();
  };
}

/** Runs `body` with a list of started processes, stopping them all if it throws. */
export async function starting<H>(body: (procs: Proc[]) => Promise<H>): Promise<H> {
  const procs: Proc[] = [];
  try {
    return await body(procs);
  } catch (err) {
    await stopAll(procs)();
    throw err;
  }
}

export function startRelay(peers: string, to: Targets): Promise<PathHandle> {
  return starting(async (procs) => {
    const relay = new Proc('node relay', process.execPath, [peers, 'relay', `to=${to.target},${to.echo}`]);
    procs.push(relay);
    const m = await relay.waitLine(/^listening (\d+) (\d+)$/, START_MS);
    const [port, echoPort] = [Number(m[1]), Number(m[2])];
    await waitEchoes([port, echoPort], relay);
    return { port, echoPort, protection: 'none (net.Server + pipe)', stop: stopAll(procs) };
  });
}

export async function sshVersion(): Promise<string> {
  const ssh = await ensureTool(['ssh'], 'openssh-client');
  return (await run(ssh, ['-V'], 5000)).stderr.trim();
}

/** ssh -L, and the SOCKS5 port of the same ssh's -D (the `ssh -D` row: same connection, same cipher). */
export type SshHandle = PathHandle & { socksPort: number };

/** The `ssh -D` row: the targets themselves, reached through ssh's SOCKS5 port; stopped with ssh -L. */
export function sshDynamic(ssh: SshHandle | undefined, to: Targets): PathHandle {
  if (ssh === undefined) throw new Error('ssh did not start (see ssh -L)');
  return { port: to.target, echoPort: to.echo, socks: ssh.socksPort, protection: ssh.protection, stop: async () => {} };
}

export function startSsh(tmp: string, to: Targets): Promise<SshHandle> {
  return starting(async (procs) => {
    const sshd = await ensureTool(['sshd'], 'openssh-server');
    const ssh = await ensureTool(['ssh'], 'openssh-client');
    const keygen = await ensureTool(['ssh-keygen'], 'openssh-client');
    const dir = join(tmp, 'ssh');
    mkdirSync(dir, { mode: 0o700 });
    const hostKey = join(dir, 'host_ed25519');
    const userKey = join(dir, 'user_ed25519');
    for (const k of [hostKey, userKey]) await runOk(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'insel-bench', '-f', k], 10_000);
    copyFileSync(`${userKey}.pub`, join(dir, 'authorized_keys'));
    // sshd refuses to start without its privilege separation directory.
    if (!existsSync('/run/sshd') && process.getuid?.() === 0) mkdirSync('/run/sshd', { mode: 0o755 });
    const sshdPort = await freePort();
    const conf = join(dir, 'sshd_config');
    writeFileSync(
      conf,
      [
        `Port ${sshdPort}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'AllowTcpForwarding yes',
        'X11Forwarding no',
        'PrintMotd no',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    await runOk(sshd, ['-t', '-f', conf], 10_000);
    const server = new Proc('sshd', sshd, ['-D', '-e', '-f', conf]);
    procs.push(server);
    await waitListening(sshdPort, START_MS, server);
    const opts = [
      '-F', '/dev/null',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'IdentitiesOnly=yes',
      '-i', userKey,
      '-p', String(sshdPort),
      `${userInfo().username}@127.0.0.1`,
    ];
    // A separate verbose login only to learn what the tunnel will negotiate.
    const probe = await run(ssh, ['-v', ...opts, 'true'], START_MS);
    const cipher = /kex: server->client cipher: (\S+) MAC: (\S+)/.exec(probe.stderr);
    const kex = /kex: algorithm: (\S+)/.exec(probe.stderr);
    if (probe.code !== 0) throw new Error(`ssh login to the bench sshd failed (${probe.code}): ${probe.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const [local, echoPort, socksPort] = [await freePort(), await freePort(), await freePort()];
    const forwards = ['-L', `${local}:127.0.0.1:${to.target}`, '-L', `${echoPort}:127.0.0.1:${to.echo}`, '-D', `127.0.0.1:${socksPort}`];
    const tunnel = new Proc('ssh -L', ssh, ['-N', '-o', 'ExitOnForwardFailure=yes', ...forwards, ...opts]);
    procs.push(tunnel);
    await waitEchoes([local, echoPort], tunnel);
    const mac = cipher && cipher[2] !== '<implicit>' ? ` + ${cipher[2]}` : '';
    return { port: local, echoPort, socksPort, protection: `${cipher ? cipher[1] + mac : 'cipher unknown'}${kex ? `, kex ${kex[1]}` : ''}`, stop: stopAll(procs) };
  });
}

async function stunnelBin(): Promise<string> {
  return ensureTool(['stunnel4', 'stunnel'], 'stunnel4');
}

export async function stunnelVersion(): Promise<string> {
  const r = await run(await stunnelBin(), ['-version'], 5000);
  return ((r.stderr + r.stdout).split('\n').find((l) => /^stunnel \d/.test(l)) ?? 'stunnel (version unknown)').replace(/ on \S+ platform$/, '');
}

/** A throwaway ECDSA P-256 self-signed certificate (the key type insel's PKI issues). */
async function selfSigned(openssl: string, dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await runOk(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], 20_000);
  return { cert, key };
}

export function startStunnel(tmp: string, to: Targets): Promise<PathHandle> {
  return starting(async (procs) => {
    const bin = await stunnelBin();
    const openssl = await ensureTool(['openssl'], 'openssl');
    const dir = join(tmp, 'stunnel');
    mkdirSync(dir, { mode: 0o700 });
    const srv = await selfSigned(openssl, dir, 'bench-server');
    const cli = await selfSigned(openssl, dir, 'bench-client');
    const serverPorts = { target: await freePort(), echo: await freePort() };
    // Mutual TLS 1.3 with pinned certificates on both ends, as insel does with its PKI.
    const service = (name: string, lines: string[]) => [`[${name}]`, 'sslVersionMin = TLSv1.3', 'verifyPeer = yes', ...lines];
    const conf = (name: string, level: string, services: string[][]) => {
      const file = join(dir, `${name}.conf`);
      writeFileSync(file, ['foreground = yes', `pid = ${join(dir, `${name}.pid`)}`, `debug = ${level}`, ...services.flat(), ''].join('\n'));
      return file;
    };
    const serving = (name: string, t: keyof Targets) =>
      service(name, [`accept = 127.0.0.1:${serverPorts[t]}`, `connect = 127.0.0.1:${to[t]}`, `cert = ${srv.cert}`, `key = ${srv.key}`, `CAfile = ${cli.cert}`]);
    const server = new Proc('stunnel server', bin, [conf('server', 'err', [serving('server', 'target'), serving('server-echo', 'echo')])]);
    procs.push(server);
    await waitListening(serverPorts.target, START_MS, server);
    const client = async (name: string, level: string, ts: (keyof Targets)[]) => {
      const ports = await Promise.all(ts.map(() => freePort()));
      const services = ts.map((t, i) =>
        service(`${name}-${t}`, ['client = yes', `accept = 127.0.0.1:${ports[i]}`, `connect = 127.0.0.1:${serverPorts[t]}`, `cert = ${cli.cert}`, `key = ${cli.key}`, `CAfile = ${srv.cert}`]),
      );
      const p = new Proc(`stunnel ${name}`, bin, [conf(name, level, services)]);
      procs.push(p);
      return { p, port: ports[0] as number, echoPort: ports[1] };
    };
    // A verbose client only to learn the negotiated suite; the measured one logs errors only.
    const probe = await client('probe', 'info', ['target']);
    const suite = probe.p.waitLine(/(TLSv1\.\d) ciphersuite: (\S+)/, START_MS);
    suite.catch(() => undefined);
    await waitEcho(probe.port, START_MS, probe.p);
    const negotiated = await suite.catch(() => undefined);
    await probe.p.stop();
    procs.splice(procs.indexOf(probe.p), 1);
    const measured = await client('client', 'err', ['target', 'echo']);
    const echoPort = measured.echoPort as number;
    await waitEchoes([measured.port, echoPort], measured.p);
    const protection = negotiated ? `${negotiated[1]} ${negotiated[2]}, mutual` : 'TLS 1.3 (suite unknown), mutual';
    return { port: measured.port, echoPort, protection, stop: stopAll(procs) };
  });
}

/** The insel CLI, built by `npm run build`. */
function inselCli(root: string): string {
  return join(root, 'dist', 'src', 'cli', 'main.js');
}

async function cli(root: string, args: string[]): Promise<void> {
  await runOk(process.execPath, [inselCli(root), ...args], 60_000);
}

/** Writes cert.pem key.pem ca.pem crl.pem for `name` with `pki export`, or by hand while export does not exist. */
async function exportProfile(root: string, pki: string, name: string, out: string): Promise<void> {
  const r = await run(process.execPath, [inselCli(root), 'pki', 'export', name, '--dir', pki, '--out', out], 60_000);
  if (r.code === 0) return;
  if (!/unknown command/i.test(r.stderr)) throw new Error(`insel pki export ${name} failed: ${r.stderr.trim().split('\n')[0]}`);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  copyFileSync(join(pki, 'certs', `${name}.crt`), join(out, 'cert.pem'));
  copyFileSync(join(pki, 'private', `${name}.key`), join(out, 'key.pem'));
  copyFileSync(join(pki, 'ca.crt'), join(out, 'ca.pem'));
  if (existsSync(join(pki, 'crl.pem'))) copyFileSync(join(pki, 'crl.pem'), join(out, 'crl.pem'));
}

/** What a Node TLS client with default options negotiates with the gateway (the insel client is one). */
async function probeTls(port: number, profile: string): Promise<string | undefined> {
  const s = tlsConnect({
    host: '127.0.0.1',
    port,
    cert: readFileSync(join(profile, 'cert.pem')),
    key: readFileSync(join(profile, 'key.pem')),
    ca: readFileSync(join(profile, 'ca.pem')),
    // The multiplexer's ALPN first, then HTTP/2 (the gateway's protocol before it), as the client offers them.
    ALPNProtocols: ['insel/1', 'h2'],
    checkServerIdentity: () => undefined,
  });
  const timer = setTimeout(() => s.destroy(new Error('timeout')), 5000);
  try {
    await once(s, 'secureConnect');
    const over = s.alpnProtocol === 'h2' ? 'HTTP/2' : s.alpnProtocol === 'insel/1' ? 'insel multiplexer' : 'unknown';
    return `${s.getProtocol() ?? 'TLS'} ${s.getCipher().standardName}, mutual, ${over} (${s.alpnProtocol || 'no ALPN'})`;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    s.destroy();
  }
}

export interface InselHandle extends PathHandle {
  /** Starts an `insel forward -U` to the UDP `target` through the same gateway (stopped with it). */
  forwardUdp(target: number): Promise<PathHandle>;
  /** Starts an `insel forward -D` through the same gateway (stopped with it): a SOCKS5 path to the TCP targets, or to the UDP `target`. */
  forwardDynamic(to: Targets | { udp: number }): Promise<PathHandle>;
}

export function startInsel(root: string, tmp: string, to: Targets): Promise<InselHandle> {
  return starting(async (procs) => {
    if (!existsSync(inselCli(root))) throw new Error(`${inselCli(root)} missing: run npm run build`);
    for (const cmd of ['gateway', 'forward']) {
      const r = await run(process.execPath, [inselCli(root), cmd, '--help'], 30_000);
      // commander answers `insel NOSUCH --help` with the top-level help and exit 0.
      if (r.code !== 0 || !r.stdout.includes(`Usage: insel ${cmd}`)) throw new Error(`no \`insel ${cmd}\` command in this build yet`);
    }
    const dir = join(tmp, 'insel');
    const pki = join(dir, 'pki');
    mkdirSync(dir, { mode: 0o700 });
    await cli(root, ['pki', 'init', '--dir', pki, '--org', 'Bench']);
    // --host: the client checks that the gateway's certificate names the --via host.
    await cli(root, ['pki', 'issue', '--dir', pki, '--role', 'server', '--name', 'gw', '--host', '127.0.0.1']);
    await cli(root, ['pki', 'issue', '--dir', pki, '--role', 'user', '--name', 'alice']);
    await exportProfile(root, pki, 'gw', join(dir, 'gw'));
    await exportProfile(root, pki, 'alice', join(dir, 'alice'));
    const conf = join(dir, 'gateway.toml');
    writeFileSync(
      conf,
      [
        'listen = "127.0.0.1:0"',
        'udp_listen = "127.0.0.1:0"',
        `profile = ${JSON.stringify(join(dir, 'gw'))}`,
        '',
        '[[allow]]',
        'name = "bench target"',
        'who = ["*"]',
        'to = ["127.0.0.1"]',
        'ports = ["*"]',
        'proto = ["tcp", "udp"]',
        '',
      ].join('\n'),
    );
    const gateway = new Proc('insel gateway', process.execPath, [inselCli(root), 'gateway', '--config', conf]);
    procs.push(gateway);
    const line = (await gateway.waitLine(/"msg":"gateway listening"/, START_MS)).input;
    const listen = String((JSON.parse(line) as { listen?: unknown }).listen ?? '');
    const gwPort = Number(/:(\d+)$/.exec(listen)?.[1]);
    if (!gwPort) throw new Error(`gateway listening line has no listen port: ${line}`);
    const stop = stopAll(procs);
    const forwardProc = (flag: string, specs: string[]) => {
      const p = new Proc(`insel forward ${flag}`, process.execPath, [
        inselCli(root), 'forward', '--via', `127.0.0.1:${gwPort}`, '--profile', join(dir, 'alice'), ...specs.flatMap((spec) => [flag, spec]),
      ]);
      procs.push(p);
      return p;
    };
    /** One `insel forward` process; resolves with the local port of each of its forwards, in order. */
    const forward = async (flag: '-L' | '-U', targets: number[]) => {
      const p = forwardProc(flag, targets.map((t) => `0:127.0.0.1:${t}`));
      const ports = targets.map(async (t) => Number((await p.waitLine(new RegExp(`forward ${flag} 127\\.0\\.0\\.1:(\\d+) -> 127\\.0\\.0\\.1:${t}\\b`), START_MS))[1]));
      for (const q of ports) q.catch(() => undefined);
      return { p, ports: await Promise.all(ports) };
    };
    const tcp = await forward('-L', [to.target, to.echo]);
    const [port, echoPort] = tcp.ports as [number, number];
    await waitEchoes([port, echoPort], tcp.p);
    const protection = (await probeTls(gwPort, join(dir, 'alice'))) ?? 'TLS 1.3, mutual';
    const udpProtection = 'SecSockets UDP channel (AEAD per datagram), keys from a mutual-TLS connection phase';
    const forwardUdp = async (udpTarget: number): Promise<PathHandle> => {
      const udp = await forward('-U', [udpTarget]);
      return { port: udp.ports[0] as number, protection: udpProtection, stop: () => udp.p.stop() };
    };
    const forwardDynamic = async (target: Targets | { udp: number }): Promise<PathHandle> => {
      const p = forwardProc('-D', ['127.0.0.1:0']);
      try {
        const socks = Number((await p.waitLine(/forward -D 127\.0\.0\.1:(\d+) \(SOCKS5\)/, START_MS))[1]);
        if ('udp' in target) return { port: target.udp, socks, protection: `SOCKS5 UDP ASSOCIATE, ${udpProtection}`, stop: () => p.stop() };
        await waitEcho(target.echo, START_MS, p, socks);
        return { port: target.target, echoPort: target.echo, socks, protection: `SOCKS5, ${protection}`, stop: () => p.stop() };
      } catch (err) {
        await p.stop();
        throw err;
      }
    };
    return { port, echoPort, protection, stop, forwardUdp, forwardDynamic };
  });
}
