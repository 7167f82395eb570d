// insel tunnel's config: an OpenVPN-style directive file, or the same
// settings as TOML (FILE.toml), → one TunnelConfig. docs/TUNNEL-CONFIG.md
// is the reference. parseTunnelConfig reads text only; loadTunnelConfig
// reads the file and checks the files it names.
import { closeSync, openSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { ioReason } from '../config/toml.js';
import { applyDirectives } from './apply.js';
import { readDirectives } from './directive-file.js';
import { checkFiles } from './files.js';
import { finish } from './finish.js';
import { readTomlDirectives } from './toml-file.js';
import type { TunnelConfig } from './types.js';
import { lineError, type Source } from './where.js';

export type { PushOption, TunnelConfig, TunnelMode } from './types.js';
export { DEFAULT_KEEPALIVE, DEFAULT_MAX_CLIENTS, DEFAULT_TCP_PORT, DEFAULT_TUN_MTU, DEFAULT_UDP_PORT, DEFAULT_AEADS, defaultStatusSocket } from './defaults.js';

/** Far above any real config; a bound on what a wrong path (a disk image, /dev/zero) makes us read. */
export const MAX_CONFIG_BYTES = 1 << 20;

/** The file's text, at most MAX_CONFIG_BYTES + 1 bytes of it (parse refuses more). */
function readBounded(file: string): string {
  const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
  let fd: number | undefined;
  let n = 0;
  try {
    fd = openSync(file, 'r');
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
  } catch (err) {
    throw new ConfigError(`${file}:1: cannot read the tunnel config: ${ioReason(err)}`, { file, cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (n > MAX_CONFIG_BYTES) throw new ConfigError(`${file}:1: larger than ${MAX_CONFIG_BYTES} bytes; is this the config file?`, { file });
  return buf.toString('utf8', 0, n);
}

function parse(text: string, file: string): { config: TunnelConfig; seen: ReadonlyMap<string, number>; src: Source } {
  const src: Source = { file, toml: file.endsWith('.toml') };
  if (text.length > MAX_CONFIG_BYTES) throw lineError({ src, line: 1 }, '', `larger than ${MAX_CONFIG_BYTES} bytes`, 'is this the config file?');
  const directives = src.toml ? readTomlDirectives(text, src) : readDirectives(text, src);
  const draft = applyDirectives(directives, src, dirname(resolve(file)));
  return { config: finish(draft), seen: draft.seen, src };
}

/** The config in `text`, read as the file `file` (TOML if it ends in .toml; relative paths against its directory); ConfigError `file:line: …` otherwise. Touches no files. */
export function parseTunnelConfig(text: string, file: string): TunnelConfig {
  return parse(text, file).config;
}

/** Reads and parses `file`, then checks the files it names: key files exist and are mode 0600 (or stricter), the others exist. */
export function loadTunnelConfig(file: string): TunnelConfig {
  const { config, seen, src } = parse(readBounded(file), file);
  checkFiles(config, seen, src);
  return config;
}
