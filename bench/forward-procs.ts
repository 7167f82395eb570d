// Child processes for the forward bench: each runs in its own process group
// (detached), so one group kill takes it and whatever it forked. Every wait
// is bounded; killAllSync() on exit takes down whatever is still alive.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { dialLoopback } from './socks-client.js';

const TAIL_LINES = 30;
const live = new Set<Proc>();
/** Process groups of run() commands still running. */
const running = new Set<number>();

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

/** A long-running child with its output read line by line (never left to fill a pipe). */
export class Proc {
  readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private readonly watchers = new Set<(line: string) => void>();
  private exitCode: number | null | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    cmd: string,
    args: readonly string[],
    env?: NodeJS.ProcessEnv,
    cwd?: string,
  ) {
    this.child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, cwd });
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        live.delete(this);
        resolve();
      });
      this.child.once('error', (err) => {
        this.push(`spawn failed: ${err.message}`);
        this.exitCode = -1;
        live.delete(this);
        resolve();
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) this.push(l);
      });
    }
  }

  private push(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    for (const w of this.watchers) w(line);
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** The last lines it wrote, for error messages. */
  lastWords(n = 5): string {
    return this.tail.slice(-n).join(' | ').slice(0, 600);
  }

  /** Resolves with the first match of `re` on a line from now on; rejects on exit or after `ms`. */
  waitLine(re: RegExp, ms: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error, m?: RegExpExecArray) => {
        clearTimeout(timer);
        this.watchers.delete(watch);
        if (err) reject(err);
        else resolve(m as RegExpExecArray);
      };
      const watch = (line: string) => {
        const m = re.exec(line);
        if (m) done(undefined, m);
      };
      const timer = setTimeout(() => done(new Error(`${this.name}: no line matching ${re} within ${ms} ms; last output: ${this.lastWords()}`)), ms);
      this.watchers.add(watch);
      void this.exited.then(() => done(new Error(`${this.name} exited (code ${this.exitCode}): ${this.lastWords()}`)));
    });
  }

  /** SIGTERM to the group, SIGKILL after 3 s. */
  async stop(): Promise<void> {
    if (this.child.pid === undefined) return;
    killGroup(this.child.pid, 'SIGTERM');
    const t = setTimeout(() => killGroup(this.child.pid, 'SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
    killGroup(this.child.pid, 'SIGKILL'); // leftovers of the group
  }
}

/** Last resort on exit: SIGKILL every group still alive. */
export function killAllSync(): void {
  for (const p of live) killGroup(p.child.pid, 'SIGKILL');
  for (const pid of running) killGroup(pid, 'SIGKILL');
}

/**
 * A bench run's scratch directory and last-resort cleanup: on exit (also
 * after Ctrl-C or SIGTERM) every child group still alive is killed, `more`
 * runs, the directory goes. done() does it now and unhooks it.
 */
export function benchRun(name: string, more: () => void = () => {}): { tmp: string; done(): void } {
  const tmp = mkdtempSync(join(tmpdir(), `insel-bench-${name}-`));
  const cleanupSync = () => {
    killAllSync();
    more();
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = () => process.exit(130);
  process.on('exit', cleanupSync);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    tmp,
    done() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('exit', cleanupSync);
      cleanupSync();
    },
  };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; kills its group and rejects after `ms`. */
export async function run(cmd: string, args: readonly string[], ms: number, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  if (child.pid !== undefined) running.add(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid, 'SIGKILL');
  }, ms);
  try {
    const [code] = (await Promise.race([once(child, 'close'), once(child, 'error').then(([e]) => Promise.reject(e as Error))])) as [number | null];
    if (timedOut) throw new Error(`${cmd} ${args.join(' ')}: timed out after ${ms} ms; stderr: ${stderr.slice(-300)}`);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    if (child.pid !== undefined) running.delete(child.pid);
  }
}

/** Runs a client role of a bench peer script (see peer-role.ts); its result is the JSON line it prints last. */
export async function runPeer<T>(script: string, args: readonly string[], ms: number): Promise<T> {
  const r = await run(process.execPath, [script, ...args], ms + 5000, { ...process.env, BENCH_PEER_TIMEOUT_MS: String(ms) });
  // The peer's stderr names its role.
  if (r.code !== 0) throw new Error(r.stderr.trim().slice(-300) || `${args[0]}: exit ${r.code}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
}

/** Like run(), but a non-zero exit is an error naming the command and its stderr. */
export async function runOk(cmd: string, args: readonly string[], ms: number): Promise<RunResult> {
  const r = await run(cmd, args, ms);
  if (r.code !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} … exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-400)}`);
  return r;
}

const SEARCH = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin'];

export function which(bin: string): string | undefined {
  for (const d of SEARCH) if (d && existsSync(join(d, bin))) return join(d, bin);
  return undefined;
}

/** Path of one of `bins`; installs `pkg` with apt-get when missing and running as root. */
export async function ensureTool(bins: readonly string[], pkg: string): Promise<string> {
  const found = () => bins.map(which).find((p) => p !== undefined);
  let path = found();
  if (path) return path;
  const apt = which('apt-get');
  if (process.getuid?.() !== 0 || apt === undefined) throw new Error(`${bins[0]} not installed (apt-get install ${pkg} needs root and apt)`);
  process.stderr.write(`installing ${pkg} with apt-get…\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = await run(apt, ['install', '-y', '--no-install-recommends', pkg], 600_000, env);
  if (r.code !== 0) {
    await run(apt, ['update'], 600_000, env);
    r = await run(apt, ['install', '-y', '--no-install-recommends', pkg], 600_000, env);
  }
  path = found();
  if (!path) throw new Error(`apt-get install ${pkg} failed: ${r.stderr.trim().slice(-300)}`);
  return path;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** One connect + 'E' echo round trip through `port` (through the SOCKS5 proxy on `socks` to it, if given); rejects after `ms`. */
export function echoOnce(port: number, ms: number, socks?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let s: Socket | undefined;
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no echo within ${ms} ms`)), ms);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      s?.destroy();
      settled = true;
      if (err) reject(err);
      else resolve();
    };
    dialLoopback(port, socks).then((c) => {
      s = c;
      if (settled) return void c.destroy();
      c.on('data', () => finish());
      c.on('error', (e) => finish(e));
      c.on('close', () => finish(new Error('closed before the echo')));
      c.write('E');
    }, finish);
  });
}

/** Retries echoOnce until it works; fails after `ms` or when `proc` exits. */
export async function waitEcho(port: number, ms: number, proc?: Proc, socks?: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    if (proc && !proc.alive) throw new Error(`${proc.name} exited: ${proc.lastWords()}`);
    try {
      return await echoOnce(port, Math.min(3000, Math.max(100, deadline - Date.now())), socks);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no echo through port ${port} within ${ms} ms: ${last instanceof Error ? last.message : String(last)}${proc ? `; ${proc.name}: ${proc.lastWords()}` : ''}`);
}

/** Waits until something accepts TCP connections on `port`. */
export async function waitListening(port: number, ms: number, proc?: Proc): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc && !proc.alive) throw new Error(`${proc.name} exited: ${proc.lastWords()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listening on port ${port} after ${ms} ms${proc ? `; ${proc.name}: ${proc.lastWords()}` : ''}`);
}
