// The mode of a draft (static if `secret`; server if `server`/`server-ipv6`;
// client if `client`, or `remote` with `ca` or `profile`), the directives
// that contradict it, and what each mode needs.
import { DIRECTIVES } from './directives.js';
import { failAt, lineOf, type Draft } from './draft.js';
import type { TunnelMode } from './types.js';
import { lineError, show } from './where.js';

const MODE_NAME: Record<TunnelMode, string> = { static: 'a static-key config', server: 'a CA server config', client: 'a CA client config' };

/** What a directive is for, by the modes it belongs to. */
function belongsTo(modes: readonly TunnelMode[]): string {
  const key = [...modes].sort().join(' ');
  if (key === 'server') return 'it is for a CA server (server NETWORK NETMASK with ca, cert and key)';
  if (key === 'client') return 'it is for a CA client (client, remote, ca, cert and key)';
  if (key === 'static') return 'it is for static-key mode (secret FILE)';
  if (key === 'client server') return 'it is for CA mode (ca, cert and key); static-key mode uses secret only';
  if (key === 'client static') return 'it is for a client, or a static-key end with remote';
  return 'it is for a server, or static-key mode';
}

/** Better advice than belongsTo for a few directive-in-mode mistakes. */
const INSTEAD: Partial<Record<string, Partial<Record<TunnelMode, string>>>> = {
  ifconfig: { server: 'a server takes its address from server NETWORK NETMASK: remove it', client: 'a client gets its address from the server: remove it' },
  'ifconfig-ipv6': { server: 'a server takes its address from server-ipv6: remove it', client: 'a client gets its address from the server: remove it' },
  'redirect-gateway': { server: 'push it to the clients instead: push "redirect-gateway def1"' },
  remote: { server: 'a server waits for its clients: remove it' },
};

export function checkMode(d: Draft): TunnelMode {
  const { src, seen } = d;
  const has = (directive: string) => seen.has(directive);
  const later = (a: string, b: string) => (lineOf(d, a).line > lineOf(d, b).line ? a : b);

  const why = ['secret', 'server', 'server-ipv6', 'client'].find(has) ?? (has('remote') && (has('ca') || has('profile')) ? 'remote' : undefined);
  if (why === undefined) {
    if (has('remote')) failAt(d, 'remote')('a peer needs keys', 'add secret FILE (static key), or ca, cert and key (CA client)');
    throw lineError({ src, line: 1 }, '', 'no mode: neither secret, server nor client', 'add secret FILE (static key, point to point), server NETWORK NETMASK with ca, cert and key (CA server), or client with remote, ca, cert and key (CA client)');
  }
  const mode: TunnelMode = why === 'secret' ? 'static' : why.startsWith('server') ? 'server' : 'client';

  for (const [name] of [...seen].sort((a, b) => a[1] - b[1])) {
    const spec = DIRECTIVES[name]!;
    if (spec.modes.includes(mode)) continue;
    failAt(d, name)(`does not belong in ${MODE_NAME[mode]} (${show(src, why)} at line ${lineOf(d, why).line})`, INSTEAD[name]?.[mode] ?? `${belongsTo(spec.modes)}: remove it, or remove ${show(src, why)}`);
  }

  if (!has('dev')) throw lineError({ src, line: 1 }, '', 'no dev', `add ${show(src, 'dev')} tun (or tap)`);
  if (mode === 'static' && !has('ifconfig') && !has('ifconfig-ipv6')) failAt(d, 'secret')('a static-key end needs its tunnel addresses', 'add ifconfig LOCAL REMOTE, e.g. ifconfig 10.0.0.1 10.0.0.2');
  if (mode !== 'static') {
    const files = ['ca', 'cert', 'key', 'crl-verify'].filter(has);
    if (has('profile') && files.length > 0) {
      const other = files.reduce(later);
      failAt(d, later('profile', other))(`both profile (line ${lineOf(d, 'profile').line}) and ${show(src, other)} (line ${lineOf(d, other).line})`, 'set either profile DIR or ca, cert, key and crl-verify, not both');
    }
    const missing = ['ca', 'cert', 'key'].filter((k) => !has(k));
    if (!has('profile') && missing.length > 0) {
      failAt(d, why)(`${MODE_NAME[mode]} needs ${missing.map((k) => show(src, k)).join(', ')}`, `add ca FILE (the CA), cert FILE and key FILE (this end's, from insel pki issue), or profile DIR (insel pki export)`);
    }
  }
  if (mode === 'client' && d.remotes.length === 0) failAt(d, 'client')('a client needs the server address', 'add remote HOST [PORT]');
  if (mode === 'static' && has('redirect-gateway') && d.remotes.length === 0) failAt(d, 'redirect-gateway')('needs remote: the server address stays reachable outside the tunnel', 'add remote HOST, or remove redirect-gateway on the end that waits');
  if (has('comp-lzo') && has('compress')) failAt(d, later('comp-lzo', 'compress'))('both comp-lzo and compress', 'keep one (or neither)');
  return mode;
}
