// Small argument parsers shared by the organization's commands.
import { UsageError } from '../errors.js';

/** A port 0-65535 (0: a free one). */
export function parsePort(text: string, flag: string): number {
  const n = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || n > 65535) throw new UsageError(`${flag} ${JSON.stringify(text)} is not a port: use 0-65535 (0: a free one)`);
  return n;
}
