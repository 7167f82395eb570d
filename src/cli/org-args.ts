// Small argument parsers shared by the organization's commands.
import { InvalidArgumentError } from 'commander';
import { durationMs } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { parseHostPort, type HostPort } from '../net/host-port.js';
import { checkName } from '../pki/identity.js';

/** A port 0-65535 (0: a free one). */
export function parsePort(text: string, flag: string): number {
  const n = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || n > 65535) throw new UsageError(`${flag} ${JSON.stringify(text)} is not a port: use 0-65535 (0: a free one)`);
  return n;
}

/** --ttl 24h: milliseconds, or commander's invalid-argument error saying why not. */
export function durationArg(value: string): number {
  const ms = durationMs(value);
  if (typeof ms === 'string') throw new InvalidArgumentError(ms);
  return ms;
}

/** --groups a,b: checked group names. */
export function groupsArg(value: string): string[] {
  return value === '' ? [] : value.split(',').map((g) => checkName(g.trim(), 'group'));
}

/** HOST[:PORT] with a default port. */
export function hostPortArg(value: string, flag: string, defaultPort: number): HostPort {
  return parseHostPort(/:[0-9]+$/.test(value) ? value : `${value}:${defaultPort}`, flag);
}
