// Runs the host's network programs (ip, nft, iptables, sysctl) by argument
// vector, never through a shell, optionally inside a named network namespace
// (`ip netns exec NS ...`; tests and --netns use it). A failure is a
// CommandError naming the command, its stderr and a hint.
import { execFile } from 'node:child_process';
import { CommandError } from './errors.js';

/** Where a host network change is made: the current namespace, or a named one (tests). */
export interface NetnsOption {
  netns?: string;
}

export interface RunOptions extends NetnsOption {
  /** appended to the error message: what to check or install */
  hint?: string;
  /** written to the program's stdin (nft -f -) */
  input?: string;
  /** kills a hung program; default 10 s */
  timeoutMs?: number;
}

/** Output is bounded: these programs print little, a runaway one is cut. */
const MAX_OUTPUT = 4 * 1024 * 1024;

/** The argument vector that runs `cmd args` in `netns` (or here). */
export function netnsArgv(netns: string | undefined, cmd: string, args: readonly string[]): string[] {
  return netns === undefined ? [cmd, ...args] : ['ip', 'netns', 'exec', netns, cmd, ...args];
}

/** Runs `cmd args` and resolves its stdout; rejects with a CommandError. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const argv = netnsArgv(opts.netns, cmd, args);
  const hint = opts.hint ?? hintFor(cmd);
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: opts.timeoutMs ?? 10_000, maxBuffer: MAX_OUTPUT, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const code = typeof err.code === 'number' ? err.code : null;
      const missing = err.code === 'ENOENT' ? `${argv[0]} not found` : '';
      reject(new CommandError(argv, code, stderr === '' ? missing || err.message : stderr, hint, err));
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A default hint per program: what is usually wrong. */
function hintFor(cmd: string): string {
  switch (cmd) {
    case 'ip':
      return 'is iproute2 installed and do we run as root (CAP_NET_ADMIN)?';
    case 'nft':
      return 'is nftables installed and do we run as root (CAP_NET_ADMIN)?';
    case 'iptables':
    case 'ip6tables':
      return 'is iptables installed and do we run as root (CAP_NET_ADMIN)?';
    default:
      return 'do we run as root?';
  }
}
