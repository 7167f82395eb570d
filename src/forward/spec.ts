// Forward specs as users type them, ssh style:
//
//   -L [bind:]port:host:hostport   listen on bind:port here, connect to host:hostport from the gateway
//   -R [bind:]port:host:hostport   listen on bind:port at the gateway, connect to host:hostport from here
//   -U [bind:]port:host:hostport   like -L, for UDP datagrams
//   -D [bind:]port                 a SOCKS5 proxy on bind:port here; each request names its target
//
// IPv6 literals go in brackets ([::1]:8080:[2001:db8::1]:80); the parsed spec
// holds them without. `port` 0 means any free port; `hostport` is 1-65535.
// `bind` defaults to loopback, so nothing is exposed unless asked for; `*`
// means all IPv4 interfaces and becomes 0.0.0.0.
//
// The parser throws only ForwardError 'INSEL_FORWARD_SPEC', quoting what was typed
// and the expected form.
// HOST:PORT and [bind:]port alone (--via, listen keys) are net/host-port.ts's.
import { quote } from '../errors.js';
import { bindOf, DEFAULT_BIND, formatHostPort, hostOf, portOf, tokenize, tooMany, type Fail } from '../net/host-port.js';
import { ForwardError } from './errors.js';

export type ForwardKind = 'L' | 'U' | 'R' | 'D';

export interface ForwardSpec {
  kind: ForwardKind;
  /** address to listen on: here for L/U, at the gateway for R; IPv6 without brackets */
  bind: string;
  /** 0: any free port */
  port: number;
  /** DNS name or IP literal (IPv6 without brackets) to connect to; '' for -D (each SOCKS request names one) */
  host: string;
  /** 0 for -D */
  hostPort: number;
  /** what the user typed, for messages */
  text: string;
}

const EXAMPLES: Record<Exclude<ForwardKind, 'D'>, string> = {
  L: '-L 8080:intranet.example:80',
  R: '-R 8080:localhost:80',
  U: '-U 5353:dns.internal:53',
};
const SPEC_FORM = '[bind:]port:host:hostport';

/** The canonical spelling of a spec: bind always present, IPv6 in brackets. */
export function formatForwardSpec(spec: Pick<ForwardSpec, 'bind' | 'port' | 'host' | 'hostPort'>): string {
  return `${formatHostPort(spec.bind, spec.port)}:${formatHostPort(spec.host, spec.hostPort)}`;
}

/** Parses `[bind:]port` as typed after -D. */
export function parseDynamicSpec(text: string): ForwardSpec {
  const form = '[bind:]port (e.g. -D 1080 or -D 127.0.0.1:1080)';
  if (typeof text !== 'string') throw new ForwardError('INSEL_FORWARD_SPEC', `-D: the spec is missing; expected ${form}`);
  const fail = failer(`-D ${quote(text)}`, form);
  const tokens = tokenize(text, fail);
  if (tokens.length > 2) fail(tokens.length === 4 ? 'that is a -L spec; -D takes only where to listen, each SOCKS request names its target' : tooMany(tokens));
  const [b, p] = tokens.length === 2 ? tokens : [undefined, tokens[0]];
  return { kind: 'D', bind: b === undefined ? DEFAULT_BIND : bindOf(b, fail), port: portOf(p!, 'port', 0, fail), host: '', hostPort: 0, text };
}

/** Parses `[bind:]port:host:hostport` as typed after -L, -R or -U (`[bind:]port` after -D). */
export function parseForwardSpec(kind: ForwardKind, text: string): ForwardSpec {
  if (kind === 'D') return parseDynamicSpec(text);
  const flag = `-${kind}`;
  const form = `${SPEC_FORM} (e.g. ${EXAMPLES[kind]})`;
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

function failer(prefix: string, form: string): Fail {
  return (problem) => {
    throw new ForwardError('INSEL_FORWARD_SPEC', `${prefix}: ${problem}; expected ${form}`);
  };
}
