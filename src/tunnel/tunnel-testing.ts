// End-to-end fixture for `insel tunnel`: the real CLI in network namespaces
// of a NetnsLab, a throwaway PKI made with the real `insel pki`, and config
// files written as a user would type them.
//
//   const lab = await NetnsLab.create('tun-ca');  after(() => lab.cleanup());
//   const { a, b } = await underlay(lab);                 // 192.168.77.1 ↔ .2
//   const pki = await tunnelPki(dir, { server: '192.168.77.1', clients: ['alice'] });
//   const srv = startTunnel(lab, a, writeConfig(dir, 'server.conf', [...]));
//   await srv.waitFor(/server on/);
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../hostnet/exec.js';
import type { NetnsLab } from '../hostnet/netns-testing.js';

/** The compiled CLI (dist/src/cli/main.js). */
export const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface TunnelProc {
  child: ChildProcess;
  /** everything it printed so far (stdout and stderr) */
  output(): string;
  /** resolves when a line matches (also if it already printed one); rejects on exit or after timeoutMs */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** sends `signal` and resolves the exit code (null if killed by the signal) */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `insel tunnel --config FILE` in `ns` (killed at lab cleanup if still running). */
export function startTunnel(lab: NetnsLab, ns: string, configFile: string, extraArgs: readonly string[] = []): TunnelProc {
  const child = lab.node(ns, CLI, ['tunnel', '--config', configFile, ...extraArgs]);
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString('utf8');
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    output: () => out,
    waitFor(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.split('\n').find((l) => re.test(l));
          if (m === undefined) return;
          done();
          resolve(m);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms; the tunnel printed:\n${out}`));
        }, timeoutMs);
        const onExit = () => {
          done();
          reject(new Error(`the tunnel exited (code ${child.exitCode}, signal ${child.signalCode}) before a line matching ${re}; it printed:\n${out}`));
        };
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      // `ip netns exec` execs node, so the pid is the tunnel's own.
      child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}

/** A fresh temporary directory `insel-<name>-XXXX`. */
export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `insel-${name}-`));
}

/** Two namespaces joined by a veth: `a` 192.168.77.1/24 + fd77::1/64, `b` .2 / ::2. */
export async function underlay(lab: NetnsLab, o: { mtu?: number } = {}): Promise<{ a: string; b: string }> {
  const a = await lab.ns('a');
  const b = await lab.ns('b');
  const mtu = o.mtu === undefined ? {} : { mtu: o.mtu };
  await lab.veth({ ns: a, dev: 'eth0', addr4: '192.168.77.1/24', addr6: 'fd77::1/64', ...mtu }, { ns: b, dev: 'eth0', addr4: '192.168.77.2/24', addr6: 'fd77::2/64', ...mtu });
  return { a, b };
}

/** Writes a config file of directive lines (or TOML text) into dir; returns its path. */
export function writeConfig(dir: string, name: string, lines: readonly string[]): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

/** `insel …` to completion; resolves stdout. */
export function insel(args: readonly string[]): Promise<string> {
  return run(process.execPath, [CLI, ...args]);
}

export interface TunnelPki {
  dir: string;
  /** profile directories by name (server first: 'vpn') */
  profile: Record<string, string>;
}

/** A PKI with a server `vpn` (--host each of `serverHosts`) and client certificates, exported as profiles under dir. */
export async function tunnelPki(dir: string, o: { serverHosts: readonly string[]; clients: readonly string[] }): Promise<TunnelPki> {
  const pki = join(dir, 'pki');
  await insel(['pki', 'init', '--dir', pki, '--org', 'Test']);
  await insel(['pki', 'issue', '--dir', pki, '--role', 'server', '--name', 'vpn', ...o.serverHosts.flatMap((h) => ['--host', h])]);
  const profile: Record<string, string> = {};
  for (const name of ['vpn', ...o.clients]) {
    if (name !== 'vpn') await insel(['pki', 'issue', '--dir', pki, '--role', 'client', '--name', name]);
    profile[name] = join(dir, `profile-${name}`);
    await insel(['pki', 'export', name, '--dir', pki, '--out', profile[name]]);
  }
  return { dir: pki, profile };
}
