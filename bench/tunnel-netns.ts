// Commands and watched processes (forward-procs.ts's Proc) inside one of the
// bench's network namespaces. The namespaces themselves, their veth pairs and
// their removal (always, also on Ctrl-C) are src/hostnet/netns-testing.ts's
// NetnsLab.
import { ensureTool, Proc, run, runOk, which, type RunResult } from './forward-procs.js';

const CMD_MS = 10_000;
const PING_GAP_MS = 200;

function ipBin(): string {
  const ip = which('ip');
  if (ip === undefined) throw new Error('`ip` (iproute2) not found');
  return ip;
}

/** One network namespace: commands and long-running processes inside it. */
export class Netns {
  constructor(readonly name: string) {}

  /** `ip netns exec NAME cmd args…`: ip execs cmd, so a Proc's pid is the program's own. */
  private argv(cmd: string, args: readonly string[]): string[] {
    return ['netns', 'exec', this.name, cmd, ...args];
  }

  /** Runs to completion; a non-zero exit is an error naming the command. */
  run(cmd: string, args: readonly string[], ms = CMD_MS): Promise<RunResult> {
    return runOk(ipBin(), this.argv(cmd, args), ms);
  }

  /** Runs to completion, whatever the exit code. */
  exec(cmd: string, args: readonly string[], ms = CMD_MS): Promise<RunResult> {
    return run(ipBin(), this.argv(cmd, args), ms);
  }

  /** `ip …` inside the namespace. */
  ip(args: readonly string[]): Promise<RunResult> {
    return runOk(ipBin(), ['-n', this.name, ...args], CMD_MS);
  }

  spawn(label: string, cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
    return new Proc(label, ipBin(), this.argv(cmd, args), opts.env, opts.cwd);
  }

  /** Pings `addr` once a try until it answers; fails after `ms` or when one of `procs` exits. */
  async waitPing(addr: string, ms: number, procs: readonly Proc[] = []): Promise<void> {
    const ping = await ensureTool(['ping'], 'iputils-ping');
    const deadline = Date.now() + ms;
    let last = '';
    while (Date.now() < deadline) {
      const dead = procs.find((p) => !p.alive);
      if (dead) throw new Error(`${dead.name} exited: ${dead.lastWords()}`);
      try {
        await this.run(ping, ['-c', '1', '-W', '1', '-n', '-q', addr], 5000);
        return;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, PING_GAP_MS));
    }
    const words = procs.map((p) => `${p.name}: ${p.lastWords(3)}`).join('; ');
    throw new Error(`no ping reply from ${addr} in ${this.name} within ${ms} ms (${last.slice(-120)})${words ? `; ${words}` : ''}`);
  }
}
