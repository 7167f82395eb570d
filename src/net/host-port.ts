// Addresses as users and config files write them: HOST:PORT and
// [bind:]port, IPv6 literals in brackets ([2001:db8::1]:4433), held without
// them once parsed. The grammar (tokens, host, port, bind) is shared with
// forward specs (forward/spec.ts); the parsers here throw AddressError,
// quoting what was typed and the expected form.
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { InselError, quote } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** What bind defaults to: nothing is exposed unless asked for. */
export const DEFAULT_BIND = '127.0.0.1';

/** A HOST:PORT or [bind:]port the user typed is malformed. */
export class AddressError extends InselError {
  declare readonly code: 'INSEL_ADDRESS';

  constructor(message: string) {
    super('INSEL_ADDRESS', message);
  }
}

/** host:port, with IPv6 in brackets. */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Reports a problem with the text being parsed; each parser phrases it as its own typed error. */
export type Fail = (problem: string) => never;

export interface Token {
  text: string;
  /** was written as [text]: must be an IPv6 literal */
  bracketed: boolean;
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

/** Splits on ":" outside brackets; each [..] is one token. */
export function tokenize(text: string, fail: Fail): Token[] {
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
export function tooMany(tokens: Token[]): string {
  const texts = tokens.map((t) => (t.bracketed ? '[' : t.text));
  for (let i = 0; i < texts.length && i < 16; i++) {
    for (let j = i + 2; j < texts.length && j <= i + 8; j++) {
      if (isIPv6(texts.slice(i, j + 1).join(':'))) return 'IPv6 addresses must be in brackets, as in [::1]';
    }
  }
  return `too many ":"-separated parts (${tokens.length})`;
}

export function portOf(tok: Token, name: string, min: 0 | 1, fail: Fail): number {
  if (tok.bracketed) fail(`${name} [${tok.text}] is in brackets; only IPv6 addresses are`);
  if (tok.text === '') fail(`${name} is empty`);
  if (!/^[0-9]{1,5}$/.test(tok.text)) fail(`${name} ${quote(tok.text)} is not a number`);
  const port = Number(tok.text);
  if (port < min || port > 65535) fail(`${name} ${port} is out of range: use ${min}-65535${min === 0 ? ' (0: any free port)' : ''}`);
  return port;
}

export function hostOf(tok: Token, name: string, fail: Fail): string {
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

export function bindOf(tok: Token, fail: Fail): string {
  if (!tok.bracketed && tok.text === '*') return '0.0.0.0';
  // ssh reads an empty bind as "all interfaces"; exposing a port should be typed out.
  if (!tok.bracketed && tok.text === '') fail('bind address is empty: leave it out for 127.0.0.1, or write * for all interfaces');
  return hostOf(tok, 'bind address', fail);
}

function addressFailer(prefix: string, form: string): Fail {
  return (problem) => {
    throw new AddressError(`${prefix}: ${problem}; expected ${form}`);
  };
}

/**
 * Parses HOST:PORT, e.g. `--via gw.example.com:4433` or a listen address.
 * `what` names the source in messages (`--via`, `gateway.toml: listen`).
 * Port 0 (any free port) only with `allowPortZero`, for listeners.
 */
export function parseHostPort(text: string, what: string, opts: { allowPortZero?: boolean } = {}): HostPort {
  const form = 'HOST:PORT (e.g. gw.example.com:4433 or [2001:db8::1]:4433)';
  if (typeof text !== 'string') throw new AddressError(`${what}: missing; expected ${form}`);
  const fail = addressFailer(`${what} ${quote(text)}`, form);
  const tokens = tokenize(text, fail);
  if (tokens.length === 1) fail('the port is missing');
  if (tokens.length > 2) fail(tooMany(tokens));
  return { host: hostOf(tokens[0]!, 'host', fail), port: portOf(tokens[1]!, 'port', opts.allowPortZero ? 0 : 1, fail) };
}

/** Parses `[bind:]port` (a forward's listen side); bind defaults to `defaultBind`. */
export function parseBindPort(text: string, what: string, defaultBind = DEFAULT_BIND): { bind: string; port: number } {
  const form = '[bind:]port (e.g. 2525 or 127.0.0.1:2525 or [::1]:2525)';
  if (typeof text !== 'string') throw new AddressError(`${what}: missing; expected ${form}`);
  const fail = addressFailer(`${what} ${quote(text)}`, form);
  const tokens = tokenize(text, fail);
  if (tokens.length > 2) fail(tooMany(tokens));
  if (tokens.length === 1) return { bind: defaultBind, port: portOf(tokens[0]!, 'port', 0, fail) };
  return { bind: bindOf(tokens[0]!, fail), port: portOf(tokens[1]!, 'port', 0, fail) };
}
