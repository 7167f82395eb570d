// Every tunnel config error and warning starts with `file:line:` and names
// the directive as the file spells it (comp-lzo, or comp_lzo in TOML).
import { ConfigError } from '../config/errors.js';

/** The config file being read, as messages name it. */
export interface Source {
  /** the path as the user gave it */
  file: string;
  toml: boolean;
}

export interface Where {
  src: Source;
  line: number;
}

/** A directive's name as the file spells it: TOML keys are snake_case. */
export function show(src: Source, directive: string): string {
  return src.toml ? directive.replaceAll('-', '_') : directive;
}

/** `file:line: directive: problem; hint` ('' directive: about the file or line as a whole). */
export function located(at: Where, directive: string, problem: string, hint?: string): string {
  const name = directive === '' ? '' : `${show(at.src, directive)}: `;
  return `${at.src.file}:${at.line}: ${name}${problem}${hint === undefined ? '' : `; ${hint}`}`;
}

export function lineError(at: Where, directive: string, problem: string, hint?: string, cause?: unknown): ConfigError {
  return new ConfigError(located(at, directive, problem, hint), {
    file: at.src.file,
    ...(directive === '' ? {} : { field: directive }),
    ...(cause === undefined ? {} : { cause }),
  });
}
