// The network-namespace test fixture: a lab of named namespaces joined by
// veth pairs (optionally through a bridge), commands and node scripts run
// inside them, nftables drop rules, and a cleanup that always runs.
//
//   const lab = await NetnsLab.create('nat');        // namespaces i14-nat-<pid>-<n>-*
//   after(() => lab.cleanup());
//   const a = await lab.ns('a'), b = await lab.ns('b');
//   await lab.veth({ ns: a, dev: 'eth0', addr4: '10.9.0.1/24' }, { ns: b, dev: 'eth0', addr4: '10.9.0.2/24' });
//
// Nothing touches the host's own namespace: veth pairs are created inside
// the lab's namespaces (`ip -n NS link add ... peer ... netns NS2`). A lab
// that was not cleaned up (test crashed, runner killed) is removed at the
// next NetnsLab.create of the same part: namespaces whose pid is dead go.
// Under CI=true a missing capability throws (CI must run these); elsewhere
// netnsMissing() gives the reason to skip.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { run, type RunOptions } from './exec.js';
import { writeSysctl } from './sysctl.js';

let probed: string | undefined | null = null;

/** Why namespace tests cannot run here (not root, no `ip`, no netns), or undefined. Throws under CI=true. */
export function netnsMissing(): string | undefined {
  if (probed === null) probed = probeNetns();
  if (probed !== undefined && process.env['CI'] === 'true') throw new Error(`CI lacks a required capability: ${probed}`);
  return probed;
}

/** Why nft cannot be used here, or undefined. Throws under CI=true. */
export function nftMissing(): string | undefined {
  return toolMissing('nft', ['--version'], 'nftables');
}

/** Why iptables cannot be used here, or undefined. Throws under CI=true. */
export function iptablesMissing(): string | undefined {
  return toolMissing('iptables', ['--version'], 'iptables');
}

/** Why program `cmd` cannot run here (`cmd args` fails; `pkg` is the Debian package to install), or undefined. Throws under CI=true. */
export function toolMissing(cmd: string, args: readonly string[], pkg: string): string | undefined {
  let why = netnsMissing();
  if (why === undefined) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch {
      why = `${cmd} not found (apt-get install ${pkg})`;
    }
  }
  if (why !== undefined && process.env['CI'] === 'true') throw new Error(`CI lacks a required capability: ${why}`);
  return why;
}

function probeNetns(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespace tests need root';
  const name = `i14-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    return e.code === 'ENOENT' ? 'ip not found (apt-get install iproute2)' : `cannot create a network namespace: ${e.stderr?.toString().trim() ?? String(err)}`;
  }
  execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  return undefined;
}

/** One end of a veth pair: its namespace, device name, addresses (CIDR) and MTU; `bridge` enslaves it to a bridge device in its namespace. */
export interface VethEnd {
  ns: string;
  dev: string;
  addr4?: string;
  addr6?: string;
  mtu?: number;
  bridge?: string;
}

/** Runs `cmd args` inside namespace `ns`; resolves stdout, rejects with a CommandError. */
export function inNetns(ns: string, cmd: string, args: readonly string[], opts: Omit<RunOptions, 'netns'> = {}): Promise<string> {
  return run(cmd, args, { ...opts, netns: ns });
}

/** Starts a long-running `cmd args` inside `ns`, in its own process group (so a kill reaches its children). */
export function spawnInNetns(ns: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: env ?? process.env });
}

/** The nft table the lab's drop rules live in, one per namespace. */
const LAB_TABLE = 'i14lab';
const PART_RE = /^[a-z0-9]{1,12}$/;
let labCount = 0;
const unclean = new Set<NetnsLab>();

// A test that forgot cleanup() or threw before it: the namespaces still go when the process exits.
process.on('exit', () => {
  for (const lab of unclean) lab.cleanupSync();
});

export class NetnsLab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly nftReady = new Set<string>();

  private constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** A new lab for test part `part` (a-z0-9, ≤ 12): first removes what crashed earlier runs of `part` left. */
  static async create(part: string): Promise<NetnsLab> {
    if (!PART_RE.test(part)) throw new Error(`lab part must match ${PART_RE}: ${part}`);
    const why = netnsMissing();
    if (why !== undefined) throw new Error(why);
    await removeLeftovers(part);
    const lab = new NetnsLab(`i14-${part}-${process.pid}-${++labCount}`);
    unclean.add(lab);
    return lab;
  }

  /** Creates namespace `<prefix>-<short>` with lo up and returns its name. */
  async ns(short: string): Promise<string> {
    const name = `${this.prefix}-${short}`;
    await run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** A veth pair between two namespaces (or within one), addressed and up. IPv6 addresses skip DAD so they work at once. */
  async veth(a: VethEnd, b: VethEnd): Promise<void> {
    await run('ip', ['-n', a.ns, 'link', 'add', a.dev, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns]);
    for (const end of [a, b]) {
      if (end.mtu !== undefined) await run('ip', ['-n', end.ns, 'link', 'set', end.dev, 'mtu', String(end.mtu)]);
      if (end.bridge !== undefined) await run('ip', ['-n', end.ns, 'link', 'set', end.dev, 'master', end.bridge]);
      if (end.addr4 !== undefined) await run('ip', ['-n', end.ns, 'addr', 'add', end.addr4, 'dev', end.dev]);
      if (end.addr6 !== undefined) await run('ip', ['-n', end.ns, '-6', 'addr', 'add', end.addr6, 'dev', end.dev, 'nodad']);
      await run('ip', ['-n', end.ns, 'link', 'set', end.dev, 'up']);
    }
  }

  /** A bridge device `dev` in `ns`, up; veth ends with `bridge: dev` join it (a shared segment for several namespaces). */
  async bridge(ns: string, dev: string): Promise<void> {
    await run('ip', ['-n', ns, 'link', 'add', dev, 'type', 'bridge']);
    await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }

  /** Sets a device's MTU. */
  async mtu(ns: string, dev: string, mtu: number): Promise<void> {
    await run('ip', ['-n', ns, 'link', 'set', dev, 'mtu', String(mtu)]);
  }

  /** `sysctl -w key=value` inside `ns` (e.g. net.ipv4.ip_forward=1 for a router namespace). */
  async sysctl(ns: string, key: string, value: string): Promise<void> {
    await writeSysctl(key, value, { netns: ns });
  }

  /** Runs a program to completion inside `ns`. */
  run(ns: string, cmd: string, args: readonly string[], opts: Omit<RunOptions, 'netns'> = {}): Promise<string> {
    return inNetns(ns, cmd, args, opts);
  }

  /** Starts a long-running program inside `ns`; cleanup() kills it (and its children). */
  spawn(ns: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const child = spawnInNetns(ns, cmd, args, env);
    child.on('error', () => undefined);
    this.children.push(child);
    return child;
  }

  /** Starts `node script args` inside `ns` (a compiled .js file, or `-e CODE`); killed at cleanup. */
  node(ns: string, script: string, args: readonly string[] = [], env?: NodeJS.ProcessEnv): ChildProcess {
    return this.spawn(ns, process.execPath, [script, ...args], env);
  }

  /** Runs `node args` inside `ns` to completion and resolves its stdout. */
  runNode(ns: string, args: readonly string[], opts: Omit<RunOptions, 'netns'> = {}): Promise<string> {
    return inNetns(ns, process.execPath, args, opts);
  }

  /**
   * A TCP server in `ns` on `port` that answers each connection with the
   * source address it sees and closes: the "internet" host of NAT and
   * full-tunnel tests. Resolves once it listens.
   */
  async whoamiServer(ns: string, port: number): Promise<ChildProcess> {
    const code = `const s=require('net').createServer(c=>c.end(c.remoteAddress+'\\n'));s.listen(${port},'::',()=>console.log('listening'))`;
    const child = this.node(ns, '-e', [code]);
    await waitForLine(child, 'listening');
    return child;
  }

  /** Connects from `ns` to host:port over TCP and resolves what the server sent (e.g. whoamiServer's answer, trimmed). */
  async tcpRead(ns: string, host: string, port: number, timeoutMs = 5000): Promise<string> {
    const code = `const c=require('net').connect({host:${JSON.stringify(host)},port:${port},timeout:${timeoutMs}});let d='';c.on('data',b=>d+=b);c.on('end',()=>process.stdout.write(d));c.on('timeout',()=>{console.error('timeout');process.exit(2)});c.on('error',e=>{console.error(e.message);process.exit(1)})`;
    return (await this.runNode(ns, ['-e', code], { timeoutMs: timeoutMs + 5000, hint: `is ${host}:${port} reachable from ${ns}?` })).trim();
  }

  /**
   * Adds an nftables drop rule in `ns`: `match` is nft's expression as
   * tokens (['udp', 'dport', '1194']) on hook `chain`. Resolves the rule's
   * handle for removeDrop().
   */
  async addDrop(ns: string, chain: 'input' | 'output' | 'forward', match: readonly string[]): Promise<number> {
    if (!this.nftReady.has(ns)) {
      const chains = ['input', 'output', 'forward'].map((c) => `  chain ${c} { type filter hook ${c} priority 0; policy accept; }\n`).join('');
      await inNetns(ns, 'nft', ['-f', '-'], { input: `table inet ${LAB_TABLE} {\n${chains}}\n` });
      this.nftReady.add(ns);
    }
    const out = await inNetns(ns, 'nft', ['-a', '-e', 'add', 'rule', 'inet', LAB_TABLE, chain, ...match, 'drop']);
    const m = /# handle (\d+)/.exec(out);
    if (m === null) throw new Error(`nft did not echo a rule handle: ${out}`);
    return Number(m[1]);
  }

  /** Removes a rule added by addDrop. */
  async removeDrop(ns: string, chain: 'input' | 'output' | 'forward', handle: number): Promise<void> {
    await inNetns(ns, 'nft', ['delete', 'rule', 'inet', LAB_TABLE, chain, 'handle', String(handle)]);
  }

  /** Kills every spawned program and deletes every namespace (their devices, routes and nft tables go with them). Idempotent. */
  async cleanup(): Promise<void> {
    const exits = this.children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : Promise.resolve()));
    for (const c of this.children) killGroup(c.pid);
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5000).unref())]);
    this.children.length = 0;
    for (const ns of this.namespaces.splice(0)) await deleteNetns(ns);
    unclean.delete(this);
  }

  /** cleanup() for process exit: synchronous, best effort. */
  cleanupSync(): void {
    for (const c of this.children.splice(0)) killGroup(c.pid);
    for (const ns of this.namespaces.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    unclean.delete(this);
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already exited
  }
}

/** Kills what still runs in `ns`, then deletes it. */
async function deleteNetns(ns: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', ns]).catch(() => '');
  for (const p of pids.split('\n').filter((l) => /^\d+$/.test(l))) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  await run('ip', ['netns', 'del', ns]).catch(() => undefined);
}

/** Namespaces `i14-<part>-<pid>-…` whose pid is no longer alive: a crashed earlier run's. */
async function removeLeftovers(part: string): Promise<void> {
  const list = await run('ip', ['netns', 'list']);
  const re = new RegExp(`^i14-${part}-(\\d+)-\\d+-`);
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = re.exec(name);
    if (m !== null && !alive(Number(m[1]))) await deleteNetns(name);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves when `child` prints a line equal to `line` on stdout; rejects if it exits first. */
export function waitForLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const onData = (b: Buffer) => {
      buf = (buf + b.toString()).slice(-65536);
      if (buf.split('\n').includes(line)) {
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => reject(new Error(`process exited (${code}) before printing ${JSON.stringify(line)}: ${err.trim()}`));
    child.stderr?.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
