// Reading a config file and its TOML, with errors that name the file (and
// line:column for syntax), and the bridge from a value parser's error to a
// config error naming the key.
import { readFileSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { InselError } from '../errors.js';
import { ConfigError } from './errors.js';

/** Why a file could not be read, in words. */
export function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return err instanceof Error ? err.message : String(err);
}

/** Reads a config file whole; `what` says which ("gateway config"). */
export function readConfigFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the ${what} ${file}: ${ioReason(err)}`, { file, cause: err });
  }
}

/** The top-level table of a TOML document; syntax errors name file:line:column. */
export function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const what = err.message.replace(/^Invalid TOML document: /, '').split('\n')[0];
      throw new ConfigError(`${file}:${err.line}:${err.column}: invalid TOML: ${what}`, { file, cause: err });
    }
    // smol-toml throws only TomlError as far as we know; anything else is still the file's fault.
    throw new ConfigError(`${file}: invalid TOML: ${err instanceof Error ? err.message : String(err)}`, { file, cause: err });
  }
}

/** Runs a value parser (host:port, a forward spec) for config key `field`, reporting its typed failure as a config error. */
export function asConfig<T>(file: string, field: string, parseIt: () => T): T {
  try {
    return parseIt();
  } catch (err) {
    if (err instanceof InselError && !(err instanceof ConfigError)) throw new ConfigError(err.message, { file, field, cause: err });
    throw err;
  }
}
