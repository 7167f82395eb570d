// Test helpers: an in-memory duplex pair, the real Debian vsftpd on
// loopback, curl, and a loopback stand-in for the tunnel (data hooks that
// are plain local TCP relays) with a relay listener in front of vsftpd.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import type { HostPort } from './command.js';
import { relayFtpControl, type FtpDataHooks, type FtpRelayEvent, type FtpRelayResult } from './relay.js';

export const VSFTPD = '/usr/sbin/vsftpd';
export const CURL = '/usr/bin/curl';

/**
 * Two connected in-memory Duplex streams, like the two ends of a socket:
 * end() on one ends the other's readable, destroy() ends it too, and a
 * write completes only once the other side reads (backpressure).
 */
export function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const held: (() => void)[][] = [[], []];
  const eof = [false, false];
  const release = (i: number) => {
    for (const cb of held[i]!.splice(0)) cb();
  };
  const make = (me: number): Duplex => {
    const peer = 1 - me;
    return new Duplex({
      read() {
        release(me);
      },
      write(chunk: Buffer, _enc, cb) {
        const p = sides[peer]!;
        if (p.destroyed || eof[peer]) return cb();
        if (p.push(chunk)) cb();
        else held[peer]!.push(() => cb());
      },
      final(cb) {
        if (!eof[peer] && !sides[peer]!.destroyed) sides[peer]!.push(null);
        eof[peer] = true;
        cb();
      },
      destroy(err, cb) {
        release(me);
        if (!eof[peer] && !sides[peer]!.destroyed) sides[peer]!.push(null);
        eof[peer] = true;
        cb(err);
      },
    });
  };
  sides.push(make(0), make(1));
  return [sides[0]!, sides[1]!];
}

/**
 * Why the vsftpd/curl tests cannot run here, or undefined when they can.
 * With CI=true a missing tool throws: CI must have every capability.
 */
export function ftpToolsMissing(): string | undefined {
  const missing = [VSFTPD, CURL].filter((p) => !existsSync(p));
  const root = process.getuid?.() === 0;
  if (missing.length === 0 && root) return undefined;
  const why = missing.length > 0 ? `${missing.join(' and ')} not installed (apt-get install vsftpd curl)` : 'vsftpd needs root to chroot; run the tests as root';
  if (process.env['CI'] === 'true') throw new Error(`CI lacks a required capability: ${why}`);
  return why;
}

export interface Vsftpd {
  port: number;
  /** the anonymous FTP root: read-only for `ftp`, files put here can be downloaded */
  root: string;
  /** `${root}/upload`, owned by `ftp`: anonymous uploads land here (ftp path /upload/) */
  uploadDir: string;
  close(): Promise<void>;
}

/**
 * Starts the real vsftpd on 127.0.0.1 at a free port with anonymous
 * download and upload, passive and active mode. Must run as root (vsftpd
 * chroots). Waits until the port accepts; close() kills its process group
 * and removes the temp dir.
 */
export async function startVsftpd(opts: { timeoutMs?: number } = {}): Promise<Vsftpd> {
  const reason = ftpToolsMissing();
  if (reason !== undefined) throw new Error(reason);
  const ftp = ftpUser();
  const dir = await mkdtemp(join(tmpdir(), 'insel-vsftpd-'));
  try {
    await chmod(dir, 0o755);
    const root = join(dir, 'root');
    const uploadDir = join(root, 'upload');
    const empty = join(dir, 'empty');
    // vsftpd refuses an anonymous root the ftp user can write to.
    await mkdir(root, { mode: 0o755 });
    await mkdir(uploadDir, { mode: 0o755 });
    await chown(uploadDir, ftp.uid, ftp.gid);
    await mkdir(empty, { mode: 0o755 });
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const conf = join(dir, 'vsftpd.conf');
      await writeFile(conf, vsftpdConf(port, root, empty), { mode: 0o600 });
      const child = spawn(VSFTPD, [conf], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const keep = (b: Buffer) => {
        if (output.length < 4096) output += b.toString();
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.once('error', (err) => keep(Buffer.from(String(err))));
      const up = await waitForPort(port, child, opts.timeoutMs ?? 10_000);
      if (up === 'up') {
        return {
          port,
          root,
          uploadDir,
          async close() {
            await killGroup(child, exited);
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      await killGroup(child, exited);
      // Another process may have taken the port between freePort() and vsftpd's bind.
      if (attempt >= 3 || up === 'timeout') throw new Error(`vsftpd did not start (${up}): ${output.trim() || 'no output'}`);
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function vsftpdConf(port: number, root: string, empty: string): string {
  return `${[
    'listen=YES',
    'listen_ipv6=NO',
    'listen_address=127.0.0.1',
    `listen_port=${port}`,
    'background=NO',
    'anonymous_enable=YES',
    'local_enable=NO',
    'no_anon_password=YES',
    `anon_root=${root}`,
    'write_enable=YES',
    'anon_upload_enable=YES',
    'anon_mkdir_write_enable=YES',
    'anon_other_write_enable=YES',
    'anon_umask=022',
    'pasv_enable=YES',
    'port_enable=YES',
    'connect_from_port_20=NO',
    'seccomp_sandbox=NO',
    // Network namespaces need privileges containers often lack.
    'isolate=NO',
    'isolate_network=NO',
    `secure_chroot_dir=${empty}`,
    'xferlog_enable=NO',
    'syslog_enable=NO',
    'ssl_enable=NO',
    'use_localtime=NO',
  ].join('\n')}\n`;
}

function ftpUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ftp:'));
  const f = line?.split(':');
  if (f === undefined) throw new Error('no user "ftp" in /etc/passwd (the vsftpd package creates it)');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, ms: number): Promise<'up' | 'exited' | 'timeout'> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return 'exited';
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return 'up';
    await new Promise((r) => setTimeout(r, 50));
  }
  return 'timeout';
}

/** SIGTERM to the whole group (vsftpd forks a process per session), SIGKILL after 3 s. */
async function killGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  if (child.pid === undefined) return;
  signal('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 3000).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    signal('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}

export interface CurlResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs curl with a hard deadline; never rejects. */
export function runCurl(args: string[], ms = 60_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    const child = spawn(CURL, ['-sS', '--max-time', String(Math.ceil(ms / 1000)), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms + 5000);
    child.once('error', (err) => {
      stderr += String(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

export interface LoopbackHooks extends FtpDataHooks {
  /** data connections carried, and bytes each way */
  readonly stats: { passive: number; active: number; bytes: number };
  close(): Promise<void>;
}

/**
 * The tunnel stand-in: each hook opens a one-shot listener on 127.0.0.1
 * that pipes its one connection to the target (the server's data port for
 * passive, the client's for active). Unused listeners close after `idleMs`.
 */
export function loopbackDataHooks(serverHost = '127.0.0.1', idleMs = 30_000): LoopbackHooks {
  const servers = new Set<Server>();
  const sockets = new Set<Socket>();
  const stats = { passive: 0, active: 0, bytes: 0 };
  const track = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('data', (b: Buffer) => (stats.bytes += b.length));
    s.on('error', () => s.destroy());
  };
  const oneShot = (host: string, port: number, kind: 'passive' | 'active'): Promise<HostPort> =>
    new Promise((resolve, reject) => {
      const srv = createServer((inbound) => {
        srv.close();
        servers.delete(srv);
        clearTimeout(idle);
        stats[kind]++;
        const outbound = connect(port, host);
        track(inbound);
        track(outbound);
        inbound.pipe(outbound);
        outbound.pipe(inbound);
        inbound.once('close', () => outbound.destroy());
        outbound.once('close', () => inbound.destroy());
      });
      const idle = setTimeout(() => {
        srv.close();
        servers.delete(srv);
      }, idleMs);
      servers.add(srv);
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve({ host: '127.0.0.1', port: (srv.address() as { port: number }).port }));
    });
  return {
    stats,
    passive: (serverPort) => oneShot(serverHost, serverPort, 'passive'),
    active: (clientHost, clientPort) => oneShot(clientHost, clientPort, 'active'),
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([...servers].map((s) => new Promise((r) => s.close(r))));
      servers.clear();
    },
  };
}

export interface TestRelay {
  port: number;
  results: FtpRelayResult[];
  events: { event: FtpRelayEvent; detail: Record<string, unknown> }[];
  /** Waits until every session so far has ended; rejects after `ms`. */
  settle(ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** A local listener that relays each FTP control connection to `upstream` with relayFtpControl. */
export async function startTestRelay(upstream: HostPort, hooks: FtpDataHooks): Promise<TestRelay> {
  const results: FtpRelayResult[] = [];
  const events: TestRelay['events'] = [];
  const sessions = new Set<Promise<void>>();
  const sockets = new Set<Socket>();
  const srv = createServer((client) => {
    const server = connect(upstream.port, upstream.host);
    for (const s of [client, server]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    }
    const p = relayFtpControl(client, server, {
      hooks,
      clientAddress: client.remoteAddress ?? '',
      log: (event, detail) => events.push({ event, detail }),
    }).then((r) => {
      results.push(r);
      sessions.delete(p);
    });
    sessions.add(p);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as { port: number }).port,
    results,
    events,
    async settle(ms = 10_000) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...sessions]),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`FTP sessions still open after ${ms} ms`)), ms))),
      ]).finally(() => clearTimeout(timer));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
}
