// The files a tunnel config names, checked at load: those read at start
// must exist, and private keys must be their owner's alone (mode & 0o077
// == 0), as OpenVPN warns and ssh refuses. Errors point at the
// directive's line and say the fix.
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { ioReason } from '../config/toml.js';
import { profileFiles } from '../config/identity.js';
import type { TunnelConfig } from './types.js';
import { lineError, type Source, type Where } from './where.js';

const RELATIVE = 'relative paths are relative to the config file';

export function checkFiles(cfg: TunnelConfig, seen: ReadonlyMap<string, number>, src: Source): void {
  const at = (directive: string): Where => ({ src, line: seen.get(directive) ?? 1 });
  const exists = (path: string, directive: string, hint: string, dir = false): Stats => {
    let st: Stats;
    try {
      st = statSync(path);
    } catch (err) {
      throw lineError(at(directive), directive, `${path}: ${ioReason(err)}`, hint, err);
    }
    if (dir ? !st.isDirectory() : !st.isFile()) throw lineError(at(directive), directive, `${path} is not a ${dir ? 'directory' : 'file'}`, hint);
    return st;
  };
  const secret = (path: string, directive: string, hint: string) => {
    const st = exists(path, directive, hint);
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      throw lineError(at(directive), directive, `${path} is open to group or others (mode ${mode}); it must be yours alone`, `chmod 600 ${path}`);
    }
  };
  const PKI = `issue it with insel pki issue, or check the path (${RELATIVE})`;
  if (cfg.secret !== undefined) secret(cfg.secret, 'secret', `create it with insel genkey --secret ${cfg.secret}, and copy it to the other end`);
  if (cfg.ca !== undefined) exists(cfg.ca, 'ca', `check the path (${RELATIVE})`);
  if (cfg.cert !== undefined) exists(cfg.cert, 'cert', PKI);
  if (cfg.key !== undefined) secret(cfg.key, 'key', PKI);
  if (cfg.crlVerify !== undefined) exists(cfg.crlVerify, 'crl-verify', `write it with insel pki crl, or check the path (${RELATIVE})`);
  if (cfg.profile !== undefined) {
    const hint = `write it with insel pki export --out ${cfg.profile}`;
    exists(cfg.profile, 'profile', hint, true);
    const f = profileFiles(cfg.profile);
    exists(f.certFile, 'profile', hint);
    exists(f.caFile, 'profile', hint);
    secret(f.keyFile, 'profile', hint);
  }
  // Password files: their mode is checked where they are read (src/tunnel/auth/private-file.ts allows group read, as /etc/shadow).
  if (cfg.authUsers !== undefined) exists(cfg.authUsers, 'auth-users', `create it with insel tunnel passwd, or check the path (${RELATIVE})`);
  if (cfg.authUserPass !== undefined) exists(cfg.authUserPass, 'auth-user-pass', `write the username and the password on two lines, or check the path (${RELATIVE})`);
  if (cfg.authUserPassVerify !== undefined) {
    const { script } = cfg.authUserPassVerify;
    exists(script, 'auth-user-pass-verify', `check the path (${RELATIVE})`);
    try {
      accessSync(script, constants.X_OK);
    } catch (err) {
      throw lineError(at('auth-user-pass-verify'), 'auth-user-pass-verify', `${script} is not executable`, `chmod +x ${script}`, err);
    }
  }
}
