// Forward specs as users type them, ssh style:
//
//   -L [bind:]port:host:hostport   listen on bind:port here, connect to host:hostport from the gateway
//   -R [bind:]port:host:hostport   listen on bind:port at the gateway, connect to host:hostport from here
//   -U [bind:]port:host:hostport   like -L, for UDP datagrams
//
// IPv6 literals go in brackets ([::1]:8080:[2001:db8::1]:80); the parsed spec
// holds them without. `port` 0 means any free port; `hostport` is 1-65535.
// `bind` defaults to loopback, so nothing is exposed unless asked for; `*`
// means all IPv4 interfaces and becomes 0.0.0.0.
//
// Parsers throw only ForwardError 'INSEL_FORWARD_SPEC', quoting what was typed
// and the expected form.
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { formatHostPort, type HostPort } from '../net/host-port.js';
import { ForwardError } from './errors.js';

export { formatHostPort, type HostPort };

export type ForwardKind = 'L' | 'U' | 'R';

export interface ForwardSpec {
  kind: ForwardKind;
  /** address to listen on: here for L/U, at the gateway for R; IPv6 without brackets */
  bind: string;
  /** 0: any free port */
  port: number;
  /** DNS name or IP literal (IPv6 without brackets) to connect to */
  host: string;
  hostPort: number;
  /** what the user typed, for messages */
  text: string;
}

export const DEFAULT_BIND = '127.0.0.1';

const EXAMPLES: Record<ForwardKind, string> = {
  L: '-L 8080:intranet.example:80',
  R: '-R 8080:localhost:80',
  U: '-U 5353:dns.internal:53',
};
const SPEC_FORM = '[bind:]port:host:hostport';
/** Long input is cut in messages: an error line should stay a line. */
const QUOTE_MAX = 120;

type Fail = (problem: string) => never;

interface Token {
  text: string;
  /** was written as [text]: must be an IPv6 literal */
  bracketed: boolean;
}

export function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_MAX ? `${text.slice(0, QUOTE_MAX)}...` : text);
}

// RFC 1123 labels; "_" too, since internal DNS often has it (SRV-style names).
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** A DNS name: labels of 1-63 characters, 253 in all, one trailing dot allowed; an all-numeric last label is a mistyped IPv4 address, not a name. */
export function isHostName(name: string): boolean {
  if (typeof name !== 'string') return false;
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length === 0 || n.length > 253) return false;
  const labels = n.split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1]!);
}

/** A DNS name or an IP literal (IPv6 without brackets). */
export function isHost(text: string): boolean {
  return isIP(text) !== 0 || isHostName(text);
}

/** host:port, with IPv6 in brackets. */

/** The canonical spelling of a spec: bind always present, IPv6 in brackets. */
export function formatForwardSpec(spec: Pick<ForwardSpec, 'bind' | 'port' | 'host' | 'hostPort'>): string {
  return `${formatHostPort(spec.bind, spec.port)}:${formatHostPort(spec.host, spec.hostPort)}`;
}

/** Splits on ":" outside brackets; each [..] is one token. */
function tokenize(text: string, fail: Fail): Token[] {
  const out: Token[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '[') {
      const end = text.indexOf(']', i);
      if (end < 0) fail('"[" without a closing "]"');
      const inner = text.slice(i + 1, end);
      if (inner.includes('[')) fail('brackets may only enclose a whole IPv6 address, as in [::1]');
      out.push({ text: inner, bracketed: true });
      i = end + 1;
      if (i === text.length) return out;
      if (text[i] !== ':') fail(`"]" must be followed by ":"`);
      i++;
    } else {
      const colon = text.indexOf(':', i);
      const part = colon < 0 ? text.slice(i) : text.slice(i, colon);
      if (part.includes('[') || part.includes(']')) fail('brackets may only enclose a whole IPv6 address, as in [::1]');
      out.push({ text: part, bracketed: false });
      if (colon < 0) return out;
      i = colon + 1;
    }
  }
}

/** Too many parts often means an IPv6 address without brackets: say so when some run of parts is one. */
function tooMany(tokens: Token[]): string {
  const texts = tokens.map((t) => (t.bracketed ? '[' : t.text));
  for (let i = 0; i < texts.length && i < 16; i++) {
    for (let j = i + 2; j < texts.length && j <= i + 8; j++) {
      if (isIPv6(texts.slice(i, j + 1).join(':'))) return 'IPv6 addresses must be in brackets, as in [::1]';
    }
  }
  return `too many ":"-separated parts (${tokens.length})`;
}

function portOf(tok: Token, name: string, min: 0 | 1, fail: Fail): number {
  if (tok.bracketed) fail(`${name} [${tok.text}] is in brackets; only IPv6 addresses are`);
  if (tok.text === '') fail(`${name} is empty`);
  if (!/^[0-9]{1,5}$/.test(tok.text)) fail(`${name} ${quote(tok.text)} is not a number`);
  const port = Number(tok.text);
  if (port < min || port > 65535) fail(`${name} ${port} is out of range: use ${min}-65535${min === 0 ? ' (0: any free port)' : ''}`);
  return port;
}

function hostOf(tok: Token, name: string, fail: Fail): string {
  if (tok.bracketed) {
    if (!isIPv6(tok.text)) fail(`${name} [${tok.text}] is not an IPv6 address; only IPv6 addresses go in brackets`);
    return tok.text;
  }
  if (tok.text === '') fail(`${name} is empty`);
  if (isIPv4(tok.text)) return tok.text;
  if (/^[0-9.]+$/.test(tok.text)) fail(`${name} ${quote(tok.text)} is not a valid IPv4 address`);
  if (!isHostName(tok.text)) {
    fail(`${name} ${quote(tok.text)} is not a valid host name: use letters, digits, "-" and "." (labels of 1-63 characters, 253 in all)`);
  }
  return tok.text;
}

function bindOf(tok: Token, fail: Fail): string {
  if (!tok.bracketed && tok.text === '*') return '0.0.0.0';
  // ssh reads an empty bind as "all interfaces"; exposing a port should be typed out.
  if (!tok.bracketed && tok.text === '') fail('bind address is empty: leave it out for 127.0.0.1, or write * for all interfaces');
  return hostOf(tok, 'bind address', fail);
}

function failer(prefix: string, form: string): Fail {
  return (problem) => {
    throw new ForwardError('INSEL_FORWARD_SPEC', `${prefix}: ${problem}; expected ${form}`);
  };
}

/** Parses `[bind:]port:host:hostport` as typed after -L, -R or -U. */
export function parseForwardSpec(kind: ForwardKind, text: string): ForwardSpec {
  const flag = `-${kind}`;
  const form = `${SPEC_FORM} (e.g. ${EXAMPLES[kind] ?? EXAMPLES.L})`;
  if (typeof text !== 'string') throw new ForwardError('INSEL_FORWARD_SPEC', `${flag}: the spec is missing; expected ${form}`);
  const prefix = `${flag} ${quote(text)}`;
  const fail = failer(prefix, form);
  const tokens = tokenize(text, fail);
  if (tokens.length > 4) fail(tooMany(tokens));
  if (tokens.length < 3) {
    throw new ForwardError('INSEL_FORWARD_SPEC', `${prefix}: expected ${form}`);
  }
  const [b, p, h, hp] = tokens.length === 4 ? tokens : [undefined, ...tokens];
  return {
    kind,
    bind: b === undefined ? DEFAULT_BIND : bindOf(b, fail),
    port: portOf(p!, 'port', 0, fail),
    host: hostOf(h!, 'host', fail),
    hostPort: portOf(hp!, 'hostport', 1, fail),
    text,
  };
}

/**
 * Parses HOST:PORT, e.g. `--via gw.example.com:4433` or a listen address.
 * `what` names the source in messages (`--via`, `gateway.toml: listen`).
 * Port 0 (any free port) only with `allowPortZero`, for listeners.
 */
export function parseHostPort(text: string, what: string, opts: { allowPortZero?: boolean } = {}): HostPort {
  const form = 'HOST:PORT (e.g. gw.example.com:4433 or [2001:db8::1]:4433)';
  if (typeof text !== 'string') throw new ForwardError('INSEL_FORWARD_SPEC', `${what}: missing; expected ${form}`);
  const fail = failer(`${what} ${quote(text)}`, form);
  const tokens = tokenize(text, fail);
  if (tokens.length === 1) fail('the port is missing');
  if (tokens.length > 2) fail(tooMany(tokens));
  return { host: hostOf(tokens[0]!, 'host', fail), port: portOf(tokens[1]!, 'port', opts.allowPortZero ? 0 : 1, fail) };
}

/** Parses `[bind:]port` (a forward's listen side); bind defaults to `defaultBind`. */
export function parseBindPort(text: string, what: string, defaultBind = DEFAULT_BIND): { bind: string; port: number } {
  const form = '[bind:]port (e.g. 2525 or 127.0.0.1:2525 or [::1]:2525)';
  if (typeof text !== 'string') throw new ForwardError('INSEL_FORWARD_SPEC', `${what}: missing; expected ${form}`);
  const fail = failer(`${what} ${quote(text)}`, form);
  const tokens = tokenize(text, fail);
  if (tokens.length > 2) fail(tooMany(tokens));
  if (tokens.length === 1) return { bind: defaultBind, port: portOf(tokens[0]!, 'port', 0, fail) };
  return { bind: bindOf(tokens[0]!, fail), port: portOf(tokens[1]!, 'port', 0, fail) };
}
