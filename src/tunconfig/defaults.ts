// insel tunnel's defaults (docs/TUNNEL-CONFIG.md lists them).
import { basename, extname } from 'node:path';
import { AEADS } from '../secsock/algorithms.js';

/** OpenVPN's IANA port: a config written for OpenVPN keeps working. */
export const DEFAULT_UDP_PORT = 1194;
/** TLS over TCP, the rung that passes where UDP is blocked: 443 looks like HTTPS to middleboxes. */
export const DEFAULT_TCP_PORT = 443;
export const DEFAULT_KEEPALIVE = { intervalS: 10, timeoutS: 60 } as const;
/** 1500 - 20 (IPv4) - 8 (UDP) - 32 (insel's datagram overhead) = 1440; 1420 leaves room for an IPv6 underlay (+20), like WireGuard. */
export const DEFAULT_TUN_MTU = 1420;
export const DEFAULT_MAX_CLIENTS = 1024;
export const DEFAULT_VERB = 1;
export const DEFAULT_AEADS = [...AEADS];
/** OpenVPN's defaults for `status FILE [SECONDS]` and `ifconfig-pool-persist FILE [SECONDS]`. */
export const DEFAULT_STATUS_SECONDS = 60;
export const DEFAULT_POOL_PERSIST_SECONDS = 600;
export const STATUS_SOCKET_DIR = '/run/insel';

/** /run/insel/tunnel-NAME.sock, NAME the config file's name without extension (server.conf → tunnel-server.sock). */
export function defaultStatusSocket(configFile: string): string {
  const name = basename(configFile, extname(configFile)).replace(/[^A-Za-z0-9._-]/g, '_');
  return `${STATUS_SOCKET_DIR}/tunnel-${name}.sock`;
}
