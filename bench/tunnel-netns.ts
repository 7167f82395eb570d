// Network namespaces for the tunnel bench: a minimal local fixture (the
// project's src/hostnet/netns-testing.ts is written on another branch; this
// file goes once that lands). Namespaces are named `i14-bench-<pid>-…`, so
// runs and tests at the same time never collide. Every namespace created is
// remembered and deleted by removeAllNetnsSync(), which the bench calls on
// exit (normal, error, Ctrl-C); deleting a namespace takes its veth ends and
// TUN devices with it once the processes in it are gone.
import { execFileSync } from 'node:child_process';
import { ensureTool, Proc, run, runOk, which, type RunResult } from './forward-procs.js';

const CMD_MS = 10_000;
const PING_GAP_MS = 200;
const created = new Set<string>();

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

/** Creates namespace `name` with loopback up. */
export async function createNetns(name: string): Promise<Netns> {
  const ip = ipBin();
  await runOk(ip, ['netns', 'add', name], CMD_MS);
  created.add(name);
  const ns = new Netns(name);
  await ns.ip(['link', 'set', 'lo', 'up']);
  return ns;
}

export interface VethEnd {
  ns: Netns;
  dev: string;
  /** address/prefix */
  cidr: string;
}

/** A veth pair between two namespaces, addressed and up. */
export async function linkVeth(a: VethEnd, b: VethEnd): Promise<void> {
  await runOk(ipBin(), ['link', 'add', a.dev, 'netns', a.ns.name, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns.name], CMD_MS);
  for (const end of [a, b]) {
    await end.ns.ip(['address', 'add', end.cidr, 'dev', end.dev]);
    await end.ns.ip(['link', 'set', end.dev, 'up']);
  }
}

export async function removeNetns(ns: Netns): Promise<void> {
  created.delete(ns.name);
  await runOk(ipBin(), ['netns', 'delete', ns.name], CMD_MS).catch(() => undefined);
}

/** Last resort (exit handlers): deletes every namespace still known. */
export function removeAllNetnsSync(): void {
  const ip = which('ip');
  for (const name of created) {
    try {
      if (ip !== undefined) execFileSync(ip, ['netns', 'delete', name], { stdio: 'ignore', timeout: CMD_MS });
    } catch {
      // already gone
    }
  }
  created.clear();
}
