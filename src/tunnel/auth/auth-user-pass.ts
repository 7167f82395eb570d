// Username/password authentication of tunnel clients, on top of their
// certificate. Server: `auth-users FILE` (scrypt hashes, auth-users-file.ts)
// and/or `auth-user-pass-verify SCRIPT via-env|via-file` (auth-script.ts);
// with both, both must accept. Credentials beyond the bounds of
// credentials.ts are refused before any hashing or script. Client:
// `auth-user-pass FILE`, OpenVPN's two lines (username, password).
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../config/errors.js';
import { VerifyScript, type LoginContext, type VerifyScriptOptions } from './auth-script.js';
import { UsersFile } from './auth-users-file.js';
import { credentialProblem, credentialsProblem, type Credentials } from './credentials.js';
import { checkPrivateFile } from './private-file.js';

/** undefined: accepted; otherwise the reason the client is told (never containing the password). */
export type PasswordCheck = (user: string, password: string, who: LoginContext) => Promise<string | undefined>;

/** What the checks read of a TunnelConfig. */
export interface PasswordConfig {
  authUsers?: string;
  authUserPassVerify?: { script: string; method: 'via-env' | 'via-file' };
}

/**
 * The server's password check, or undefined when the config asks for none.
 * Throws ConfigError at start for an unreadable, open or malformed password file.
 */
export function passwordCheck(cfg: PasswordConfig, limits: Omit<VerifyScriptOptions, 'script' | 'method'> = {}): PasswordCheck | undefined {
  const users = cfg.authUsers === undefined ? undefined : new UsersFile(cfg.authUsers);
  const script = cfg.authUserPassVerify === undefined ? undefined : new VerifyScript({ ...cfg.authUserPassVerify, ...limits });
  if (users === undefined && script === undefined) return undefined;
  return async (user, password, who) => {
    const bad = credentialsProblem({ user, password });
    if (bad !== undefined) return bad;
    if (users !== undefined) {
      try {
        users.refresh();
      } catch (err) {
        // refuse until it is fixed: the broken edit may have been the removal of a user
        return `the server's password file is unusable (${(err as Error).message})`;
      }
      if (!(await users.check(user, password))) return 'wrong username or password';
    }
    return script?.check({ user, password }, who);
  };
}

/** OpenVPN's `auth-user-pass FILE` on the client: username on line 1, password on line 2; the file must be private. */
export function readClientCredentials(file: string): Credentials {
  checkPrivateFile(file, 'auth-user-pass file');
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  const [user = '', password] = lines;
  if (password === undefined) throw new ConfigError(`${file}:2: the password line is missing; the file holds the username on line 1 and the password on line 2`, { file });
  for (const [n, field, value] of [[1, 'username', user], [2, 'password', password]] as const) {
    const bad = credentialProblem(field, value);
    if (bad !== undefined) throw new ConfigError(`${file}:${n}: ${bad}`, { file });
  }
  return { user, password };
}
