// Typed errors of config files (TOML, identity files): one class, code
// INSEL_CONFIG, with `file` and `field` naming where and the message saying
// the fix, for the gateway's, the client's and every later config.
import { InselError, type ErrorContext } from '../errors.js';

/** A config file, a key in it or a file it names is missing or malformed: `file` and `field` say where. */
export class ConfigError extends InselError {
  declare readonly code: 'INSEL_CONFIG';

  constructor(message: string, ctx: ErrorContext = {}) {
    super('INSEL_CONFIG', message, ctx);
  }
}

/** `allow[3].ports[0]`: how config keys are named in messages. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : `${out === '' ? '' : '.'}${String(k)}`;
  return out;
}

/** `${where}: ${field}: ${problem}`, with `field` kept on the error. */
export function configError(where: string, path: readonly PropertyKey[] | string, problem: string, cause?: unknown): ConfigError {
  const field = typeof path === 'string' ? path : formatPath(path);
  return new ConfigError(`${where}: ${field === '' ? '' : `${field}: `}${problem}`, {
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
 * The first zod issue as a ConfigError naming the key. `hints` maps a
 * key name (its last named path segment; '' for the top level) to the fix
 * appended to the message; an unknown key gets its parent's hint.
 */
export function zodConfigError(where: string, issues: readonly ZodIssueLike[], input: unknown, hints: Record<string, string> = {}): ConfigError {
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
