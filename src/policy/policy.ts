// Who may reach what through the gateway: pure evaluation, no DNS, no I/O.
//
// A rule allows a request when one of its `who` selectors matches the
// client's certificate identity and the action, protocol, port and
// destination all match. No rule, no access (default deny).
//
// Identities are scoped by their issuer (docs/PROTOCOL.md §1): "user:alice"
// is the alice the root issued, "user:alice@branch" the one site CA branch
// issued; a site CA cannot mint the root's alice.
//
// Destinations: a name entry ("mail.example.com", "*.example.com") matches
// the name the client asked for; an address entry ("10.0.0.0/8", "::1") the
// address the gateway resolved it to and will connect to, so a name that
// re-resolves elsewhere (DNS rebinding) is judged by where traffic goes.
//
// For action 'listen' (remote forwards: the gateway opens a port) `to` lists
// the bind addresses allowed and `ports` the listening ports. Port 0 ("any
// free port") is allowed only by ports = ["*"].
import { BlockList, isIP, isIPv4 } from 'node:net';
import { z } from 'zod';
import { isRole, isValidName, scopedName, type Identity } from '../pki/identity.js';
import { configError, zodConfigError } from '../config/errors.js';
import { isHostName } from '../net/host-port.js';
import { quote } from '../errors.js';

export type Proto = 'tcp' | 'udp';
export type Action = 'connect' | 'listen';

export interface AccessRequest {
  identity: Identity;
  action: Action;
  proto: Proto;
  /** the name or IP the client asked for, lowercased */
  host: string;
  /** the resolved IP the gateway will actually use */
  address: string;
  port: number;
}

export type Decision = { allow: true; rule: string } | { allow: false; reason: string };

export interface RuleConfig {
  /** for logs; default `allow[i]` */
  name?: string;
  /** "user:NAME", "user:NAME@SITE", "group:NAME", "site:NAME", "role:ROLE" or "*" */
  who: string[];
  /** "host.name", "*.domain", "10.0.0.0/8", "192.168.1.5", "::1/128" or "*" */
  to: string[];
  /** "25", "8000-9000" or "*"; TOML integers are taken too */
  ports: (string | number)[];
  /** default ['tcp'] */
  proto?: Proto[];
  /** default 'connect' */
  action?: Action;
}

export const WHO_FORM = 'use "user:NAME", "user:NAME@SITE", "group:NAME", "site:NAME", "role:ROLE" or "*"';
const TO_FORM = 'use a host name ("mail.example.com"), a wildcard ("*.example.com"), an IP ("10.1.2.3"), a CIDR ("10.0.0.0/8", "fd00::/8") or "*"';
const PORT_FORM = 'use a port ("25"), a range ("8000-9000") or "*"';

const list = <T extends z.ZodType>(key: string, example: string, entry: T) =>
  z.array(entry, { error: `must be a list, e.g. ${key} = [${example}]` }).min(1, { error: `is empty: list at least one, e.g. ${key} = [${example}]` });
const strings = (key: string, example: string) => list(key, example, z.string({ error: `each entry must be a string, e.g. ${example}` }));

export const ruleConfigSchema = z
  .object({
    name: z.string({ error: 'must be a string' }).optional(),
    who: strings('who', '"group:staff"'),
    to: strings('to', '"mail.example.com"'),
    ports: list('ports', '"25"', z.union([z.string(), z.number().int()], { error: `each entry must be a string: ${PORT_FORM}` }).transform(String)),
    proto: list('proto', '"tcp"', z.enum(['tcp', 'udp'], { error: 'use "tcp" or "udp"' })).optional(),
    action: z.enum(['connect', 'listen'], { error: 'use "connect" or "listen"' }).optional(),
  })
  .strict();

const RULE_HINT = 'a rule has keys name, who, to, ports, proto, action';

/**
 * `user` carries the issuer scope: undefined for "user:alice" (the root's
 * alice only), the site for "user:alice@branch" (the alice site CA branch issued).
 */
export type Selector = { kind: 'any' } | { kind: 'user'; value: string; issuer: string | undefined } | { kind: 'group' | 'site' | 'role'; value: string };

interface Rule {
  name: string;
  action: Action;
  protos: Proto[];
  who: Selector[];
  anyHost: boolean;
  /** exact names, lowercased, without a trailing dot */
  names: Set<string>;
  /** ".example.com" for "*.example.com" */
  suffixes: string[];
  addresses: BlockList | undefined;
  /** inclusive; "*" is [0, 65535] so that it alone admits port 0 */
  ports: [number, number][];
  /** "tcp to mail.example.com, 10.0.0.0/8 ports 25, 110", for deny messages */
  summary: string;
}

/** A `who` entry, compiled; `fail` throws the caller's config error. */
export function parseSelector(text: string, fail: (problem: string) => never): Selector {
  if (text === '*') return { kind: 'any' };
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  const value = text.slice(colon + 1);
  if (colon < 0 || !['user', 'group', 'site', 'role'].includes(kind)) fail(`${quote(text)} is not a selector: ${WHO_FORM}`);
  if (kind === 'user') return parseUser(text, value, fail);
  if (kind === 'role') {
    if (!isRole(value)) fail(`${quote(text)}: unknown role; use role:hq, role:site, role:user, role:server or role:client`);
  } else if (value.includes('@')) {
    fail(`${quote(text)}: only user: takes @SITE; write ${kind}:${value.slice(0, value.indexOf('@'))}`);
  } else if (!isValidName(value)) {
    fail(`${quote(text)}: ${quote(value)} is not a valid ${kind} name (1-64 characters of A-Z a-z 0-9 . _ -)`);
  }
  return { kind: kind as 'group' | 'site' | 'role', value };
}

/** "user:NAME" (issued by the root) or "user:NAME@SITE" (issued by site CA SITE). */
function parseUser(text: string, value: string, fail: (problem: string) => never): Selector {
  const at = value.indexOf('@');
  const name = at < 0 ? value : value.slice(0, at);
  const issuer = at < 0 ? undefined : value.slice(at + 1);
  if (!isValidName(name)) fail(`${quote(text)}: ${quote(name)} is not a valid user name (1-64 characters of A-Z a-z 0-9 . _ -)`);
  if (issuer !== undefined && !isValidName(issuer)) {
    fail(`${quote(text)}: ${quote(issuer)} is not a valid site name after "@"; write user:NAME for a user the root issued, user:NAME@SITE for one site CA SITE issued`);
  }
  return { kind: 'user', value: name, issuer };
}

function addDestination(rule: Rule, raw: string, fail: (problem: string) => never): void {
  if (raw === '*') {
    rule.anyHost = true;
    return;
  }
  // [::1] is how IPv6 is written elsewhere; take it here too.
  const text = raw.startsWith('[') && raw.endsWith(']') && !raw.includes('/') ? raw.slice(1, -1) : raw;
  const slash = text.indexOf('/');
  if (slash >= 0) {
    const addr = text.slice(0, slash);
    const bits = text.slice(slash + 1);
    const family = isIP(addr);
    const max = family === 6 ? 128 : 32;
    if (family === 0) fail(`${quote(raw)}: ${quote(addr)} is not an IP address; ${TO_FORM}`);
    if (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > max) fail(`${quote(raw)}: prefix length must be 0-${max}`);
    rule.addresses ??= new BlockList();
    rule.addresses.addSubnet(addr, Number(bits), family === 6 ? 'ipv6' : 'ipv4');
    return;
  }
  const family = isIP(text);
  if (family !== 0) {
    rule.addresses ??= new BlockList();
    rule.addresses.addAddress(text, family === 6 ? 'ipv6' : 'ipv4');
    return;
  }
  if (text.startsWith('*.')) {
    const suffix = normalizeName(text.slice(2));
    if (!isHostName(suffix) || !suffix.includes('.')) fail(`${quote(raw)}: a wildcard needs a domain of two labels or more after "*.", as in "*.example.com"`);
    rule.suffixes.push(`.${suffix}`);
    return;
  }
  if (!isHostName(text)) fail(`${quote(raw)} is not a destination: ${TO_FORM}`);
  rule.names.add(normalizeName(text));
}

function parsePorts(text: string, fail: (problem: string) => never): [number, number] {
  if (text === '*') return [0, 65535];
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text);
  if (!m) fail(`${quote(text)} is not a port: ${PORT_FORM}`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535) fail(`${quote(text)}: ports are 1-65535`);
  if (lo > hi) fail(`${quote(text)}: the range is backwards; write "${hi}-${lo}"`);
  return [lo, hi];
}

function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** An IPv4-mapped IPv6 address is checked as the IPv4 address it is; a zone id is dropped. */
function normalizeAddress(address: string): string {
  const a = address.toLowerCase().replace(/%.*$/, '');
  if (a.startsWith('::ffff:') && isIPv4(a.slice(7))) return a.slice(7);
  return a;
}

function brief(items: readonly string[], max = 4): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')}, ...`;
}

function describeIdentity(id: Identity): string {
  const extra = [
    ...(id.site !== undefined && !(id.role === 'site' && id.site === id.name) ? [`site ${id.site}`] : []),
    ...(id.groups?.length ? [`group${id.groups.length > 1 ? 's' : ''} ${id.groups.join(', ')}`] : []),
  ];
  return `${id.role} ${scopedName(id)}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

function describeHost(host: string): string {
  return isIP(host) !== 0 || isHostName(host) ? host : quote(host);
}

/** Whether `sel` selects the identity. */
export function selects(sel: Selector, id: Identity): boolean {
  switch (sel.kind) {
    case 'any':
      return true;
    case 'user':
      return id.name === sel.value && id.issuer === sel.issuer;
    case 'group':
      // verify admits a site-issued member only if its site CA may grant the group
      return Array.isArray(id.groups) && id.groups.includes(sel.value);
    case 'site':
      // the root's certificates with site=SITE, and all that site's CA issued (verify: their site is the CA's)
      return id.site === sel.value;
    case 'role':
      return id.role === sel.value;
  }
}

function covers(rule: Rule, proto: Proto, port: number): boolean {
  return rule.protos.includes(proto) && rule.ports.some(([lo, hi]) => port >= lo && port <= hi);
}

function reaches(rule: Rule, host: string, address: string): boolean {
  if (rule.anyHost || rule.names.has(host)) return true;
  if (rule.suffixes.some((s) => host.length > s.length && host.endsWith(s))) return true;
  if (rule.addresses === undefined) return false;
  const family = isIP(address);
  return family !== 0 && rule.addresses.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

export class Policy {
  private constructor(private readonly rules: readonly Rule[]) {}

  /** Number of rules. */
  get size(): number {
    return this.rules.length;
  }

  /**
   * Validates and compiles `allow` rules. `where` names the source in errors
   * (the config file); a bad entry throws ConfigError naming
   * `allow[i].key[j]` and the fix.
   */
  static fromRules(rules: readonly RuleConfig[], where: string): Policy {
    const input = { allow: rules };
    const parsed = z.object({ allow: z.array(ruleConfigSchema, { error: 'must be a list of [[allow]] tables' }) }).safeParse(input);
    if (!parsed.success) throw zodConfigError(where, parsed.error.issues, input, { allow: RULE_HINT });
    const compiled = parsed.data.allow.map((r, i): Rule => {
      const failAt = (key: string, j: number) => (problem: string): never => {
        throw configError(where, ['allow', i, key, j], problem);
      };
      const protos = [...new Set<Proto>(r.proto ?? ['tcp'])];
      const rule: Rule = {
        name: r.name ?? `allow[${i}]`,
        action: r.action ?? 'connect',
        protos,
        who: r.who.map((w, j) => parseSelector(w, failAt('who', j))),
        anyHost: false,
        names: new Set(),
        suffixes: [],
        addresses: undefined,
        ports: r.ports.map((p, j) => parsePorts(p, failAt('ports', j))),
        summary: `${protos.join('/')} ${r.action === 'listen' ? 'on' : 'to'} ${brief(r.to)} port${r.ports.length > 1 ? 's' : ''} ${brief(r.ports)}`,
      };
      r.to.forEach((t, j) => addDestination(rule, t, failAt('to', j)));
      return rule;
    });
    return new Policy(compiled);
  }

  /** Allows with the rule's name, or denies with a one-line reason for the user. Never throws. */
  check(req: AccessRequest): Decision {
    const id = req.identity;
    const host = normalizeName(String(req.host ?? ''));
    const address = normalizeAddress(String(req.address ?? ''));
    const port = Number.isInteger(req.port) ? req.port : -1;
    const forThem: Rule[] = [];
    for (const rule of this.rules) {
      if (rule.action !== req.action || !rule.who.some((s) => selects(s, id))) continue;
      forThem.push(rule);
      if (!covers(rule, req.proto, port)) continue;
      if (reaches(rule, host, address)) return { allow: true, rule: rule.name };
    }
    return { allow: false, reason: this.denyReason(req, host, address, forThem) };
  }

  /**
   * Whether a rule for this identity, action, protocol and port matches by
   * address (an IP, a CIDR or "*"). If none does, the name alone decides and
   * the gateway need not resolve a name its name rules refuse.
   */
  matchesByAddress(req: Omit<AccessRequest, 'host' | 'address'>): boolean {
    const port = Number.isInteger(req.port) ? req.port : -1;
    return this.rules.some(
      (rule) => rule.action === req.action && rule.who.some((s) => selects(s, req.identity)) && covers(rule, req.proto, port) && (rule.anyHost || rule.addresses !== undefined),
    );
  }

  private denyReason(req: AccessRequest, host: string, address: string, forThem: Rule[]): string {
    const shown = describeHost(host);
    const dest = address === '' || address === host ? shown : `${shown} (${describeHost(address)})`;
    const what = req.action === 'listen' ? `listen on ${req.proto} ${dest}` : `${req.action} to ${req.proto} ${dest}`;
    const allowed =
      forThem.length === 0
        ? ''
        : `; rules for ${scopedName(req.identity)} allow only: ${forThem
            .slice(0, 3)
            .map((r) => `${quote(r.name)} (${r.summary})`)
            .join('; ')}${forThem.length > 3 ? `; and ${forThem.length - 3} more` : ''}`;
    return `no policy rule lets ${describeIdentity(req.identity)} ${what} port ${req.port}${allowed}; ask the gateway admin to add one to the gateway config`;
  }
}
