// The `auth-users FILE` password file (an insel extension): one user per line,
//   name:scrypt$N$r$p$saltB64$hashB64
// `#` comment lines and blank lines are skipped. Names are 1..256 bytes
// without ':' or control characters. The file is read at start (a malformed
// file stops the server, naming file:line) and again whenever its mtime or
// size changes, so `insel tunnel passwd` takes effect without a restart.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../../config/errors.js';
import { writeFileAtomic } from '../../pki/store.js';
import { credentialProblem } from './credentials.js';
import { checkPrivateFile } from './private-file.js';

export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** What `insel tunnel passwd` writes: 32 MiB and some 50-100 ms per check. */
export const SCRYPT_DEFAULTS = { N: 1 << 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** A file's parameters cannot make a login cost more than this (memory ~ 128·N·r·p bytes ≤ 256 MiB). */
const MAX_COST = { N: 1 << 20, r: 16, p: 4, mem: 256 << 20 } as const;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function formatHash(h: ScryptHash): string {
  return `scrypt$${h.N}$${h.r}$${h.p}$${h.salt.toString('base64')}$${h.hash.toString('base64')}`;
}

/** The hash text after `name:`, or undefined when it is not one we accept (format or cost). */
export function parseHash(text: string): ScryptHash | undefined {
  const f = text.split('$');
  if (f.length !== 6 || f[0] !== 'scrypt' || !B64.test(f[4]!) || !B64.test(f[5]!)) return undefined;
  const [N, r, p] = f.slice(1, 4).map((x) => (/^[1-9][0-9]{0,7}$/.test(x) ? Number(x) : NaN)) as [number, number, number];
  if (!(N >= 2 && N <= MAX_COST.N && (N & (N - 1)) === 0 && r >= 1 && r <= MAX_COST.r && p >= 1 && p <= MAX_COST.p)) return undefined;
  if (128 * N * r * p > MAX_COST.mem) return undefined;
  const salt = Buffer.from(f[4]!, 'base64');
  const hash = Buffer.from(f[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16 || hash.length > 64) return undefined;
  return { N, r, p, salt, hash };
}

function derive(password: string, h: Pick<ScryptHash, 'N' | 'r' | 'p' | 'salt'>, length: number): Promise<Buffer> {
  const opts: ScryptOptions = { N: h.N, r: h.r, p: h.p, maxmem: 128 * h.N * h.r * h.p + (1 << 20) };
  return new Promise((resolve, reject) => scrypt(password, h.salt, length, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<ScryptHash> {
  const salt = randomBytes(SALT_BYTES);
  return { ...SCRYPT_DEFAULTS, salt, hash: await derive(password, { ...SCRYPT_DEFAULTS, salt }, HASH_BYTES) };
}

export async function verifyPassword(password: string, h: ScryptHash): Promise<boolean> {
  const got = await derive(password, h, h.hash.length);
  return timingSafeEqual(got, h.hash);
}

/** `name` as a password-file user name: undefined when fine, else why not. */
export function userNameProblem(name: string): string | undefined {
  return credentialProblem('username', name) ?? (name.includes(':') ? 'the username has a ":"' : undefined);
}

export interface UsersFileLine {
  /** the line as read, kept when rewriting */
  text: string;
  user?: string;
  hash?: ScryptHash;
}

/** The lines of a password file's text; ConfigError naming file:line for a malformed one. */
export function parseUsersFile(text: string, file: string): UsersFileLine[] {
  const seen = new Set<string>();
  return text.split(/\r?\n/).map((raw, i): UsersFileLine => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return { text: raw };
    const at = `${file}:${i + 1}`;
    const colon = line.indexOf(':');
    const user = colon < 0 ? line : line.slice(0, colon);
    const bad = colon < 0 ? 'expected name:scrypt$N$r$p$salt$hash' : userNameProblem(user);
    if (bad !== undefined) throw new ConfigError(`${at}: ${bad}; write the line with insel tunnel passwd ${file} NAME`, { file });
    const hash = parseHash(line.slice(colon + 1));
    if (hash === undefined) {
      throw new ConfigError(`${at}: the hash of ${JSON.stringify(user)} is not scrypt$N$r$p$salt$hash within our cost bounds; set it again with insel tunnel passwd ${file} ${user}`, { file });
    }
    if (seen.has(user)) throw new ConfigError(`${at}: ${JSON.stringify(user)} is listed twice; remove one line`, { file });
    seen.add(user);
    return { text: raw, user, hash };
  });
}

/** A password file checked for mode and format at start, re-read when it changes. */
export class UsersFile {
  private users = new Map<string, ScryptHash>();
  private stamp = '';

  constructor(readonly file: string) {
    this.refresh();
  }

  /** Re-reads the file if its mtime or size changed; a broken new version throws and the old one stays. */
  refresh(): void {
    checkPrivateFile(this.file, 'password file');
    const st = statSync(this.file);
    const stamp = `${st.mtimeMs}/${st.size}/${st.ino}`;
    if (stamp === this.stamp) return;
    const lines = parseUsersFile(readFileSync(this.file, 'utf8'), this.file);
    this.users = new Map(lines.filter((l) => l.user !== undefined).map((l) => [l.user!, l.hash!]));
    this.stamp = stamp;
  }

  /** Whether `user` has `password`. An unknown user costs the same scrypt work (no user enumeration by timing). */
  async check(user: string, password: string): Promise<boolean> {
    const h = this.users.get(user);
    if (h !== undefined) return verifyPassword(password, h);
    await derive(password, { ...SCRYPT_DEFAULTS, salt: DUMMY_SALT }, HASH_BYTES);
    return false;
  }
}

const DUMMY_SALT = randomBytes(SALT_BYTES);

/**
 * Adds `user` to password file `file` or replaces its hash, keeping every
 * other line; creates the file (0600) if missing. Written atomically.
 */
export async function setUserPassword(file: string, user: string, password: string): Promise<'added' | 'replaced'> {
  let lines: UsersFileLine[] = [];
  if (existsSync(file)) {
    checkPrivateFile(file, 'password file');
    lines = parseUsersFile(readFileSync(file, 'utf8'), file);
    while (lines.length > 0 && lines.at(-1)!.text.trim() === '') lines.pop();
  }
  const text = `${user}:${formatHash(await hashPassword(password))}`;
  const at = lines.findIndex((l) => l.user === user);
  if (at >= 0) lines[at] = { text };
  else lines.push({ text });
  writeFileAtomic(file, `${lines.map((l) => l.text).join('\n')}\n`, { mode: 0o600, force: true });
  return at >= 0 ? 'replaced' : 'added';
}
