// The quickstart's child processes: `insel …` commands of this very build,
// run here or inside a network namespace (the org lab), each in its own
// process group so one kill takes whatever it forked. Output is kept line by
// line (bounded); every wait is bounded and names what it waited for. The
// org lab (src/org/e2e) and the org bench use the same plumbing.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The CLI entry of this build (dist/src/cli/main.js). */
export const INSEL_MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

/** Where a process runs: here, or inside network namespace `netns`. */
export interface Where {
  netns?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

const KEEP_LINES = 2000;
const live = new Set<InselProc>();

function argv(where: Where, cmd: string, args: readonly string[]): [string, string[]] {
  return where.netns === undefined ? [cmd, [...args]] : ['ip', ['netns', 'exec', where.netns, cmd, ...args]];
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

/** A long-running process (an `insel …` daemon, a curl, a test server) with its output kept. */
export class InselProc {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly lines: string[] = [];
  private readonly watchers = new Set<() => void>();
  private code: number | null | undefined;

  constructor(
    readonly name: string,
    cmd: string,
    args: readonly string[],
    where: Where = {},
  ) {
    const [file, list] = argv(where, cmd, args);
    this.child = spawn(file, list, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], cwd: where.cwd, env: where.env ?? process.env });
    live.add(this);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null) => {
        if (this.code !== undefined) return;
        this.code = code;
        live.delete(this);
        this.notify();
        resolve(code);
      };
      this.child.once('exit', (code, signal) => done(code ?? (signal === null ? null : -1)));
      this.child.once('error', (err) => {
        this.push(`spawn failed: ${err.message}`);
        done(-1);
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const l of parts) this.push(l);
      });
    }
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > KEEP_LINES) this.lines.splice(0, this.lines.length - KEEP_LINES);
    this.notify();
  }

  private notify(): void {
    for (const w of this.watchers) w();
  }

  get alive(): boolean {
    return this.code === undefined;
  }

  get exitCode(): number | null | undefined {
    return this.code;
  }

  /** Everything it printed (stdout and stderr interleaved), the last KEEP_LINES lines. */
  output(): string {
    return this.lines.join('\n');
  }

  /** The lines it printed from line number `from` on (see lineCount). */
  linesSince(from: number): string[] {
    return this.lines.slice(from);
  }

  get lineCount(): number {
    return this.lines.length;
  }

  /** Resolves with the first printed line (from line `from` on) matching `re`; rejects when it exits first or after `ms`. */
  waitFor(re: RegExp, ms = 20_000, from = 0): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (const l of this.lines.slice(from)) {
          const m = re.exec(l);
          if (m !== null) return finish(undefined, m);
        }
        if (!this.alive) finish(new Error(`${this.name} exited (${this.code}) before printing a line matching ${re}:\n${this.tail()}`));
      };
      const timer = setTimeout(() => finish(new Error(`${this.name}: no line matching ${re} within ${ms} ms:\n${this.tail()}`)), ms);
      const finish = (err?: Error, m?: RegExpExecArray) => {
        clearTimeout(timer);
        this.watchers.delete(check);
        if (err !== undefined) reject(err);
        else resolve(m as RegExpExecArray);
      };
      this.watchers.add(check);
      check();
    });
  }

  /** The last lines, for error messages. */
  tail(n = 20): string {
    return this.lines.slice(-n).join('\n');
  }

  /** Sends `signal` to its group; after `ms` SIGKILL. Resolves its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 5000): Promise<number | null> {
    if (this.alive) {
      killGroup(this.child.pid, signal);
      const t = setTimeout(() => killGroup(this.child.pid, 'SIGKILL'), ms);
      await this.exited;
      clearTimeout(t);
    }
    killGroup(this.child.pid, 'SIGKILL'); // what the group forked and left behind
    return this.code ?? null;
  }
}

/** Stops every InselProc still alive (last resort at exit or Ctrl-C). */
export async function stopAllProcs(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

process.on('exit', () => {
  for (const p of live) killGroup(p.child.pid, 'SIGKILL');
});

/** Starts `insel ARGS` as a long-running process. */
export function startInsel(name: string, args: readonly string[], where: Where = {}): InselProc {
  return new InselProc(name, process.execPath, [INSEL_MAIN, ...args], where);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd ARGS` to completion (killed after `ms`). */
export async function runCommand(cmd: string, args: readonly string[], where: Where = {}, ms = 30_000): Promise<RunResult> {
  const p = new InselProc(`${cmd} ${args.slice(0, 3).join(' ')}`, cmd, args, where);
  let stdout = '';
  let stderr = '';
  p.child.stdout?.on('data', (c: string) => (stdout += c));
  p.child.stderr?.on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => void p.stop('SIGKILL'), ms);
  const code = await p.exited;
  clearTimeout(timer);
  if (p.child.stdout !== null && !p.child.stdout.readableEnded) await Promise.race([once(p.child.stdout, 'end'), new Promise((r) => setTimeout(r, 500))]);
  return { code, stdout, stderr: code === -1 && stderr === '' ? p.output() : stderr };
}

/** Runs `insel ARGS` to completion. */
export function runInsel(args: readonly string[], where: Where = {}, ms = 30_000): Promise<RunResult> {
  return runCommand(process.execPath, [INSEL_MAIN, ...args], where, ms);
}

/** Runs `insel ARGS`; a non-zero exit throws with the command and what it printed. */
export async function inselOk(args: readonly string[], where: Where = {}, ms = 30_000): Promise<string> {
  const r = await runInsel(args, where, ms);
  if (r.code !== 0) throw new Error(`insel ${args.join(' ')}${where.netns === undefined ? '' : ` (in ${where.netns})`} exited ${r.code}:\n${(r.stderr + r.stdout).trim()}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `probe` every 100 ms until it resolves true; throws after `ms` naming `what` (a function: read at the end, e.g. the last error). */
export async function waitUntil(probe: () => Promise<boolean> | boolean, what: string | (() => string), ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(100);
  }
}

/** Whether a TCP connect to host:port succeeds (from namespace `netns` through bash's /dev/tcp). */
export async function tcpOpen(host: string, port: number, where: Where = {}): Promise<boolean> {
  if (where.netns !== undefined) {
    const r = await runCommand('bash', ['-c', `exec 3<>/dev/tcp/${host}/${port}`], { netns: where.netns }, 5000);
    return r.code === 0;
  }
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(2000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Waits until host:port accepts TCP connections; fails early when `proc` exits. */
export function waitTcp(host: string, port: number, proc: InselProc, where: Where = {}, ms = 20_000): Promise<void> {
  return waitUntil(
    async () => {
      if (!proc.alive) throw new Error(`${proc.name} exited (${proc.exitCode}) before listening on ${host}:${port}:\n${proc.tail()}`);
      return tcpOpen(host, port, where);
    },
    `${proc.name} to listen on ${host}:${port}`,
    ms,
  );
}
