// Errors of the host's network setup (src/hostnet). Every one says which
// command failed (its argument vector, as typed), what it wrote to stderr and
// what to do about it, so `insel tunnel` can stop with one actionable line.
import { InselError, type ErrorContext } from '../errors.js';

export type HostnetErrorCode =
  /** a program (ip, nft, iptables, sysctl) exited non-zero or could not be started */
  | 'INSEL_HOSTNET_COMMAND'
  /** a state file for crash repair is unreadable or malformed */
  | 'INSEL_HOSTNET_STATE'
  /** the host lacks something the setup needs: a default route, nft and iptables, a user or group */
  | 'INSEL_HOSTNET_MISSING';

export class HostnetError extends InselError {
  declare readonly code: HostnetErrorCode;

  constructor(code: HostnetErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}

/** A program failed: `argv` is what ran, `stderr` what it said, `exitCode` null when it could not start or was killed. */
export class CommandError extends HostnetError {
  readonly argv: readonly string[];
  readonly stderr: string;
  readonly exitCode: number | null;

  constructor(argv: readonly string[], exitCode: number | null, stderr: string, hint: string, cause?: unknown) {
    const said = stderr.trim().split('\n').slice(-3).join(' / ');
    const how = exitCode === null ? 'could not run' : `failed (exit ${exitCode})`;
    super('INSEL_HOSTNET_COMMAND', `\`${argv.join(' ')}\` ${how}${said === '' ? '' : `: ${said}`}${hint === '' ? '' : `; ${hint}`}`, cause === undefined ? {} : { cause });
    this.argv = argv;
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

/**
 * A daemon that dropped privileges (user/group) can no longer change the
 * host's network: an undo that fails with EPERM says what becomes of the
 * change instead of only "Operation not permitted".
 */
export function afterPrivilegeDrop(err: unknown, what: string, stateFile: string): unknown {
  if (!(err instanceof CommandError && /Operation not permitted|Permission denied/.test(err.stderr))) return err;
  return new HostnetError('INSEL_HOSTNET_COMMAND', `cannot undo ${what} without CAP_NET_ADMIN (privileges were dropped): it is undone at the next start from ${stateFile}`, {
    file: stateFile,
    cause: err,
  });
}
