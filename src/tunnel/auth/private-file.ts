// Files holding secrets (password hashes, a client's password) must not be
// readable by others; group read is allowed, as for /etc/shadow (0640).
import { statSync } from 'node:fs';
import { ConfigError } from '../../config/errors.js';

/** Refuses a file group can write or others can access; ConfigError naming it, its mode and the chmod. */
export function checkPrivateFile(file: string, what: string): void {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o7777;
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file, cause: err });
  }
  if ((mode & 0o037) !== 0) {
    throw new ConfigError(`${what} ${file} is open to others (mode ${mode.toString(8).padStart(4, '0')}); it holds secrets: chmod 600 ${file}`, { file });
  }
}
