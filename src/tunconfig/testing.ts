// Shared by the tunconfig tests: the seed's files, minimal configs per mode,
// and a helper that asserts the shape of a config error.
import assert from 'node:assert/strict';
import { ConfigError } from '../config/errors.js';
import { parseTunnelConfig } from './index.js';

/** Seed 004's files, byte for byte as the seed prints them. */
export const SEED_SERVER = 'dev tun\nifconfig 10.0.0.1 10.0.0.2\nsecret static.key\ncomp-lzo\n';
export const SEED_CLIENT = (server: string) => `remote ${server}\ndev tun\nifconfig 10.0.0.2 10.0.0.1\nsecret static.key\ncomp-lzo\n`;

export const STATIC = 'dev tun\nifconfig 10.0.0.1 10.0.0.2\nsecret static.key\n';
export const SERVER = 'dev tun\nserver 10.8.0.0 255.255.255.0\nca ca.pem\ncert server.pem\nkey server.key\n';
export const CLIENT = 'client\ndev tun\nremote vpn.example.com\nca ca.pem\ncert client.pem\nkey client.key\n';

export const FILE = '/etc/insel/t.conf';

/** The ConfigError of `text` read as `file`; asserts it starts with `file:line: ` and carries a hint ("; "). */
export function errorOf(text: string, line: number, file = FILE): ConfigError {
  try {
    parseTunnelConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.ok(err.message.startsWith(`${file}:${line}: `), `expected ${file}:${line}: in ${err.message}`);
    assert.match(err.message, /; \S/, `no hint in ${err.message}`);
    return err;
  }
  return assert.fail(`accepted: ${text}`);
}
