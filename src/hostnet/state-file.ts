// State files for crash repair: what a change to the host's network is
// about to do, written (0600, atomically) BEFORE the change, removed after
// it is undone. The next start finds a file left by a crashed run and undoes
// what it names. The directory (/run/insel by default: tmpfs, so a reboot,
// which also resets routes and rules, clears it) is created 0700 if absent.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { HostnetError } from './errors.js';

/** Where state files live unless told otherwise. */
export const STATE_DIR = '/run/insel';

/** State files are named after a device or table: keep such names path-safe. */
const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;

/** `${STATE_DIR}/${kind}-${name}.json`; `name` (a device name) is checked so it cannot leave the directory. */
export function stateFilePath(kind: string, name: string): string {
  if (!NAME_RE.test(name) || name.startsWith('.')) throw new HostnetError('INSEL_HOSTNET_STATE', `bad name for a state file: ${JSON.stringify(name)}`);
  return `${STATE_DIR}/${kind}-${name}.json`;
}

/** Writes `state` to `file` with mode 0600: a temp file renamed over it, so a crash leaves the old or the new file, never half of one. */
export function writeState(file: string, state: unknown): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** The state in `file` checked against `schema`, or undefined when there is no file. */
export function readState<T>(file: string, schema: z.ZodType<T>): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HostnetError('INSEL_HOSTNET_STATE', `cannot read state file ${file}: ${(err as Error).message}`, { file, cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new HostnetError('INSEL_HOSTNET_STATE', `state file ${file} is not JSON; remove it after checking \`ip route\` / \`nft list ruleset\` by hand`, { file, cause: err });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new HostnetError('INSEL_HOSTNET_STATE', `state file ${file} is malformed (${parsed.error.issues[0]?.message ?? 'invalid'}); remove it after checking by hand`, { file });
  }
  return parsed.data;
}

/** Removes `file`; a missing file is fine (undo is idempotent). */
export function removeState(file: string): void {
  rmSync(file, { force: true });
}
