// Kernel settings by name through sysctl(8), in the current namespace or a
// named one (/proc/sys/net is per namespace: the program must run in it).
import { run, type NetnsOption } from './exec.js';

/** `net.ipv4.ip_forward` and friends: dotted names only, never a path. */
const KEY_RE = /^[a-z0-9_]+(\.[a-z0-9_-]+)+$/;

function checkKey(key: string): void {
  if (!KEY_RE.test(key)) throw new Error(`not a sysctl name: ${key}`);
}

export async function readSysctl(key: string, opts: NetnsOption = {}): Promise<string> {
  checkKey(key);
  return (await run('sysctl', ['-n', key], { ...opts, hint: 'is procps (sysctl) installed?' })).trim();
}

export async function writeSysctl(key: string, value: string, opts: NetnsOption = {}): Promise<void> {
  checkKey(key);
  await run('sysctl', ['-q', '-w', `${key}=${value}`], { ...opts, hint: 'do we run as root?' });
}
