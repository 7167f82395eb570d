// What the directives of one file have said so far, before the mode is
// known and defaults are filled in (finish.ts).
import type { Aead } from '../secsock/algorithms.js';
import type { TunnelConfig } from './types.js';
import type { Source } from './where.js';

/** One directive as read from a file: its name (canonical, kebab-case), arguments and line. */
export interface Directive {
  name: string;
  args: string[];
  line: number;
}

export interface Draft {
  src: Source;
  /** the config file's directory: relative paths are resolved against it */
  dir: string;
  /** directive → line of its first occurrence */
  seen: Map<string, number>;
  /** the fields directives set directly */
  cfg: Partial<TunnelConfig>;
  /** `remote HOST [PORT]`: the port defaults to `port`, which may come later */
  remotes: { host: string; port?: number }[];
  /** `ifconfig A B`: B is a remote address (tun) or a netmask (tap), known once `dev` is */
  ifconfig?: [string, string];
  cipher?: Aead;
  dataCiphers?: Aead[];
  fallback?: Aead;
}

export function newDraft(src: Source, dir: string): Draft {
  return { src, dir, seen: new Map(), cfg: { push: [], routes: [], routesIpv6: [], warnings: [] }, remotes: [] };
}
