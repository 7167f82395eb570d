// An address as users and logs write it: "host:port", IPv6 in brackets.
import { isIPv6 } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
