// Server NAT: the clients' pool addresses leave through the outside
// interface masqueraded as the server's address (OpenVPN's howto does this
// by hand with iptables; insel's `nat [IFACE]` does it and undoes it).
//
//   sysctl net.ipv4.ip_forward=1 (and net.ipv6.conf.all.forwarding=1 with a v6 pool), old values kept
//   nft: table inet insel-<name> { chain postrouting { type nat hook postrouting priority srcnat;
//          ip saddr <pool4> oifname "<out>" masquerade; ip6 saddr <pool6> oifname "<out>" masquerade } }
//   or, where nft is missing: iptables/ip6tables -t nat -A POSTROUTING -s <pool> -o <out>
//          -m comment --comment insel-<name> -j MASQUERADE
//
// Our own nft table, so undo is one `delete table` and never touches anyone
// else's rules. Like redirect-gateway, the whole change is written to a
// state file before it is made, so the next start undoes a crashed run's.
import { isIP } from 'node:net';
import { z } from 'zod';
import { afterPrivilegeDrop, CommandError, HostnetError } from './errors.js';
import { run, type NetnsOption } from './exec.js';
import { defaultRoute, isDeviceName } from './ip.js';
import { readState, removeState, stateFilePath, writeState } from './state-file.js';
import { readSysctl, writeSysctl } from './sysctl.js';

export interface NatOptions extends NetnsOption {
  /** the IPv4 pool, "10.8.0.0/24" */
  pool4?: string;
  /** the IPv6 pool, "fd00:8::/64" */
  pool6?: string;
  /** outside interface; default: the device of the default route of each pool's family */
  outIf?: string;
  /** names the nft table insel-<name> and the state file; the tunnel device's name. Default "tunnel" */
  name?: string;
  /** default /run/insel/nat-<name>.json */
  stateFile?: string;
  /** default: nft when it runs, else iptables */
  backend?: 'nft' | 'iptables';
}

const FORWARD4 = 'net.ipv4.ip_forward';
const FORWARD6 = 'net.ipv6.conf.all.forwarding';

const cidrSchema = z.string().refine(isCidr, 'not a CIDR prefix');
const ruleSchema = z.strictObject({ family: z.union([z.literal(4), z.literal(6)]), pool: cidrSchema, outIf: z.string().refine(isDeviceName, 'not a device name') });
const stateSchema = z.strictObject({
  version: z.literal(1),
  kind: z.literal('nat'),
  name: z.string().refine(isDeviceName),
  backend: z.union([z.literal('nft'), z.literal('iptables')]),
  rules: z.array(ruleSchema).max(2),
  /** sysctl values before we set them to 1 */
  forwarding: z.array(z.strictObject({ key: z.union([z.literal(FORWARD4), z.literal(FORWARD6)]), old: z.string().regex(/^[0-9]$/) })).max(2),
});
type NatState = z.infer<typeof stateSchema>;
type NatRule = NatState['rules'][number];

function isCidr(s: string): boolean {
  const [addr, len, ...rest] = s.split('/');
  const family = isIP(addr ?? '');
  return rest.length === 0 && family !== 0 && /^\d{1,3}$/.test(len ?? '') && Number(len) <= (family === 4 ? 32 : 128);
}

/** /run/insel/nat-<name>.json */
export function natStateFile(name: string): string {
  return stateFilePath('nat', name);
}

/** Turns on forwarding and masquerading of the pools; repairs a crashed earlier run first. Resolves undo(), idempotent. */
export async function enableNat(o: NatOptions): Promise<() => Promise<void>> {
  const name = o.name ?? 'tunnel';
  const stateFile = o.stateFile ?? natStateFile(name);
  const netns = o.netns === undefined ? {} : { netns: o.netns };
  if (!isDeviceName(name)) throw new HostnetError('INSEL_HOSTNET_MISSING', `not a device name: ${JSON.stringify(name)}`);
  if (o.outIf !== undefined && !isDeviceName(o.outIf)) throw new HostnetError('INSEL_HOSTNET_MISSING', `nat: not an interface name: ${JSON.stringify(o.outIf)}`);
  const rules: NatRule[] = [];
  for (const [family, pool] of [[4, o.pool4], [6, o.pool6]] as const) {
    if (pool === undefined) continue;
    if (!isCidr(pool) || isIP(pool.split('/')[0]!) !== family) throw new HostnetError('INSEL_HOSTNET_MISSING', `nat: not an IPv${family} prefix: ${JSON.stringify(pool)}`);
    rules.push({ family, pool, outIf: o.outIf ?? (await outsideInterface(family, netns)) });
  }
  if (rules.length === 0) throw new HostnetError('INSEL_HOSTNET_MISSING', 'nat: no address pool to masquerade (set `server` or `server-ipv6`)');
  await repairNat(stateFile, netns); // before reading the forwarding settings: a crashed run's "1" is not the host's own
  const keys = rules.map((r): NatState['forwarding'][number]['key'] => (r.family === 4 ? FORWARD4 : FORWARD6));
  const forwarding = await Promise.all(keys.map(async (key) => ({ key, old: await readSysctl(key, netns) })));
  const state: NatState = { version: 1, kind: 'nat', name, backend: o.backend ?? (await pickBackend(netns)), rules, forwarding };
  writeState(stateFile, state);

  try {
    await applyNat(state, netns);
  } catch (err) {
    await undoNat(state, netns).catch(() => undefined);
    removeState(stateFile);
    throw err;
  }
  let undone: Promise<void> | undefined;
  return () => {
    undone ??= undoNat(state, netns).then(
      () => removeState(stateFile),
      (err: unknown) => {
        undone = undefined; // a later call may retry
        throw afterPrivilegeDrop(err, `the NAT of ${name}`, stateFile);
      },
    );
    return undone;
  };
}

/** Undoes what a crashed run recorded in `stateFile`, then removes it. Resolves whether there was anything. */
export async function repairNat(stateFile: string, opts: NetnsOption = {}): Promise<boolean> {
  const state = readState(stateFile, stateSchema);
  if (state === undefined) return false;
  await undoNat(state, opts);
  removeState(stateFile);
  return true;
}

async function outsideInterface(family: 4 | 6, opts: NetnsOption): Promise<string> {
  const r = await defaultRoute(family, opts);
  if (r === undefined) throw new HostnetError('INSEL_HOSTNET_MISSING', `nat: there is no IPv${family} default route to find the outside interface; name it (\`nat IFACE\`)`);
  return r.dev;
}

async function pickBackend(opts: NetnsOption): Promise<'nft' | 'iptables'> {
  try {
    await run('nft', ['list', 'tables'], opts);
    return 'nft';
  } catch (err) {
    if (err instanceof CommandError && err.exitCode === null) return 'iptables'; // not installed
    throw err;
  }
}

function nftTable(name: string): string {
  return `insel-${name}`;
}

function nftScript(s: NatState): string {
  const rules = s.rules.map((r) => `    ${r.family === 4 ? 'ip' : 'ip6'} saddr ${r.pool} oifname "${r.outIf}" masquerade\n`).join('');
  const t = `inet ${nftTable(s.name)}`;
  // Declare, delete, define: one transaction that replaces a stale table of the same name.
  return `table ${t} {}\ndelete table ${t}\ntable ${t} {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n${rules}  }\n}\n`;
}

function iptablesArgs(op: '-A' | '-D', s: NatState, r: NatRule): [string, string[]] {
  const cmd = r.family === 4 ? 'iptables' : 'ip6tables';
  return [cmd, ['-w', '5', '-t', 'nat', op, 'POSTROUTING', '-s', r.pool, '-o', r.outIf, '-m', 'comment', '--comment', nftTable(s.name), '-j', 'MASQUERADE']];
}

async function applyNat(s: NatState, opts: NetnsOption): Promise<void> {
  for (const f of s.forwarding) await writeSysctl(f.key, '1', opts);
  if (s.backend === 'nft') {
    await run('nft', ['-f', '-'], { ...opts, input: nftScript(s) });
    return;
  }
  for (const r of s.rules) {
    const [cmd, args] = iptablesArgs('-A', s, r);
    await run(cmd, args, opts);
  }
}

/** Removes the rules (a missing one is fine) and restores the forwarding settings. */
async function undoNat(s: NatState, opts: NetnsOption): Promise<void> {
  if (s.backend === 'nft') {
    await run('nft', ['delete', 'table', 'inet', nftTable(s.name)], opts).catch((err: unknown) => {
      if (!(err instanceof CommandError && /No such file or directory/.test(err.stderr))) throw err;
    });
  } else {
    for (const r of s.rules) {
      const [cmd, args] = iptablesArgs('-D', s, r);
      await run(cmd, args, opts).catch((err: unknown) => {
        if (!(err instanceof CommandError && /does a matching rule exist|No chain\/target\/match|Bad rule/.test(err.stderr))) throw err;
      });
    }
  }
  for (const f of s.forwarding) if (f.old !== '1') await writeSysctl(f.key, f.old, opts);
}
