// OpenVPN's `auth-user-pass-verify SCRIPT via-env|via-file`: the script
// decides; exit status 0 accepts. Run without a shell (its words split on
// blanks, no quoting), with a clean environment:
//   script_type=user-pass-verify, common_name, untrusted_ip, untrusted_port,
//   username, and with via-env also password;
// with via-file the username and password are two lines of a fresh 0600
// file in a 0700 directory, its path the script's last argument, deleted
// after the script ends. Output is discarded (a script may echo the
// password). At most `concurrency` scripts run at once and `queue` wait;
// beyond that, and after `timeoutMs` (the script is killed), the login is
// refused. Reasons never contain the password.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Credentials } from './credentials.js';

export interface VerifyScriptOptions {
  script: string;
  method: 'via-env' | 'via-file';
  timeoutMs?: number;
  concurrency?: number;
  queue?: number;
}

export interface LoginContext {
  commonName: string;
  ip: string;
  port: number;
}

export const SCRIPT_DEFAULTS = { timeoutMs: 10_000, concurrency: 8, queue: 64 } as const;

export class VerifyScript {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly argv: string[];
  private readonly limits: Required<Omit<VerifyScriptOptions, 'script' | 'method'>>;

  constructor(private readonly o: VerifyScriptOptions) {
    this.argv = o.script.split(/[ \t]+/).filter((w) => w !== '');
    this.limits = {
      timeoutMs: o.timeoutMs ?? SCRIPT_DEFAULTS.timeoutMs,
      concurrency: o.concurrency ?? SCRIPT_DEFAULTS.concurrency,
      queue: o.queue ?? SCRIPT_DEFAULTS.queue,
    };
  }

  /** undefined: accepted; otherwise the reason. */
  async check(c: Credentials, who: LoginContext): Promise<string | undefined> {
    if (this.running >= this.limits.concurrency) {
      if (this.waiting.length >= this.limits.queue) return 'too many logins are being checked at once; try again shortly';
      await new Promise<void>((resolve) => this.waiting.push(resolve)); // a finishing check hands us its slot
    } else {
      this.running++;
    }
    try {
      return await this.run(c, who);
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }

  private async run(c: Credentials, who: LoginContext): Promise<string | undefined> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      script_type: 'user-pass-verify',
      common_name: who.commonName,
      untrusted_ip: who.ip,
      untrusted_port: String(who.port),
      username: c.user,
    };
    let dir: string | undefined;
    const args = this.argv.slice(1);
    if (this.o.method === 'via-env') {
      env['password'] = c.password;
    } else {
      dir = await mkdtemp(join(tmpdir(), 'insel-auth-')); // 0700
      const file = join(dir, 'up');
      await writeFile(file, `${c.user}\n${c.password}\n`, { mode: 0o600 });
      args.push(file);
    }
    try {
      return await this.exec(args, env);
    } finally {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    }
  }

  private exec(args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
    return new Promise((resolve) => {
      const child = spawn(this.argv[0]!, args, { env, stdio: 'ignore', timeout: this.limits.timeoutMs, killSignal: 'SIGKILL' });
      child.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ABORT_ERR') return;
        resolve(`the auth-user-pass-verify script could not run (${err.code ?? err.message})`);
      });
      child.on('exit', (code, signal) => {
        if (code === 0) resolve(undefined);
        // child.killed: the signal was ours, sent at the timeout
        else if (signal === 'SIGKILL' && child.killed) resolve(`the auth-user-pass-verify script did not answer within ${this.limits.timeoutMs / 1000} s`);
        else if (signal !== null) resolve(`the auth-user-pass-verify script died (${signal})`);
        else resolve(`refused by the auth-user-pass-verify script (exit ${code})`);
      });
    });
  }
}
