// Typed errors of service tunnels. `code` is stable; messages name the spec,
// file or identity they are about and say what to do, so one log line or one
// CLI error is enough to act on.
import { InselError, type ErrorContext } from '../errors.js';
import { DecodeError } from '../secsock/errors.js';

/** A malformed UDP flow message from the peer (code INSEL_DECODE): one `instanceof DecodeError` guard covers every wire parser. */
export class FlowDecodeError extends DecodeError {}

export type ForwardErrorCode =
  /** a -L/-R/-U spec, --via or HOST:PORT the user typed is malformed */
  | 'INSEL_FORWARD_SPEC'
  /** the gateway's policy refused a connect or listen; the message says who and what */
  | 'INSEL_POLICY_DENIED'
  /** the target host name did not resolve */
  | 'INSEL_UNKNOWN_HOST'
  /** a config file or key is missing or malformed; the message names file, key and fix */
  | 'INSEL_CONFIG'
  /** the gateway cannot be reached, is not an insel gateway, or its certificate is refused */
  | 'INSEL_GATEWAY'
  /** the gateway refused or lost a request for another reason than policy (its reason is the message) */
  | 'INSEL_GATEWAY_REFUSED'
  /** the gateway could not reach the target */
  | 'INSEL_UNREACHABLE'
  /** a per-identity limit of the gateway ([limits] in its config) refused the request; the message names the key */
  | 'INSEL_LIMIT'
  /** a local listener could not be opened (port in use, no such address); names bind:port */
  | 'INSEL_FORWARD_BIND'
  /** a UDP target host or port cannot be put on the wire (empty, too long, port 0) */
  | 'INSEL_FORWARD_BAD_TARGET'
  /** a UDP forward was given a TCP channel or server: we never carry UDP inside TCP */
  | 'INSEL_FORWARD_NOT_UDP'
  /** an option is out of range (idleMs, maxFlowsPerChannel) */
  | 'INSEL_FORWARD_OPTION';

export class ForwardError extends InselError {
  declare readonly code: ForwardErrorCode;

  constructor(code: ForwardErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}

/** Bad gateway or forwards configuration: `file` and `field` say where. */
export class ForwardConfigError extends ForwardError {
  constructor(message: string, ctx: ErrorContext = {}) {
    super('INSEL_CONFIG', message, ctx);
  }
}

/** `allow[3].ports[0]`: how config keys are named in messages. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : `${out === '' ? '' : '.'}${String(k)}`;
  return out;
}

/** `${where}: ${field}: ${problem}`, with `field` kept on the error. */
export function configError(where: string, path: readonly PropertyKey[] | string, problem: string, cause?: unknown): ForwardConfigError {
  const field = typeof path === 'string' ? path : formatPath(path);
  return new ForwardConfigError(`${where}: ${field === '' ? '' : `${field}: `}${problem}`, {
    file: where,
    ...(field === '' ? {} : { field }),
    ...(cause === undefined ? {} : { cause }),
  });
}

interface ZodIssueLike {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/**
 * The first zod issue as a ForwardConfigError naming the key. `hints` maps a
 * key name (its last named path segment; '' for the top level) to the fix
 * appended to the message; an unknown key gets its parent's hint.
 */
export function zodConfigError(where: string, issues: readonly ZodIssueLike[], input: unknown, hints: Record<string, string> = {}): ForwardConfigError {
  const issue = issues[0];
  if (issue === undefined) return configError(where, '', 'invalid');
  const names = (p: readonly PropertyKey[]) => p.filter((k): k is string => typeof k === 'string');
  if (issue.code === 'unrecognized_keys' && issue.keys?.[0] !== undefined) {
    const hint = hints[names(issue.path).at(-1) ?? ''];
    return configError(where, [...issue.path, issue.keys[0]], `unknown key (misspelt?)${hint ? `; ${hint}` : ''}`);
  }
  const hint = hints[names(issue.path).at(-1) ?? ''];
  const missing = ['invalid_type', 'invalid_union', 'invalid_value'].includes(issue.code) && issue.path.length > 0 && valueAt(input, issue.path) === undefined;
  // A schema's own message ("use tcp or udp") is the fix for a missing key too; zod's defaults ("Invalid input: ...") are not.
  const fix = hint ?? (missing && !issue.message.startsWith('Invalid') ? issue.message : undefined);
  return configError(where, issue.path, `${missing ? 'missing' : issue.message}${fix ? `; ${fix}` : ''}`);
}
