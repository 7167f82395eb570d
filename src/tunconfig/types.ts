// What `insel tunnel` runs with, from an OpenVPN-style directive file or the
// same settings as TOML (docs/TUNNEL-CONFIG.md). The contract between the
// config reader and the daemon (DESIGN14.md `TunnelConfig`); paths are
// absolute, resolved against the config file's directory.
import type { Aead } from '../secsock/algorithms.js';

/** static: `secret` (point to point); server: `server`/`server-ipv6`; client: `client`, or `remote` with `ca`/`profile`. */
export type TunnelMode = 'static' | 'server' | 'client';

export type PushOption =
  | { kind: 'route'; network: string; netmask: string }
  | { kind: 'route-ipv6'; network: string; prefix: number }
  | { kind: 'redirect-gateway' };

export interface TunnelConfig {
  /** absolute path of the config file */
  file: string;
  mode: TunnelMode;
  /** "dev tun" → no name (the kernel picks); "dev tun3", "dev insel0" → that name */
  dev: { type: 'tun' | 'tap'; name?: string };
  /** 'tcp': TCP transport only (no UDP) */
  proto: 'udp' | 'tcp';
  /** UDP port, default DEFAULT_UDP_PORT */
  port: number;
  /** the server's TLS/TCP port (control and the TCP fallback), default DEFAULT_TCP_PORT; `tcp-port N` */
  tcpPort: number;
  /** bind address */
  local?: string;
  /** tried in order; port defaults to `port`, tcpPort to `tcp-port` */
  remotes: { host: string; port: number; tcpPort: number }[];
  /** tun: `ifconfig LOCAL REMOTE` (remote set); tap: `ifconfig IP NETMASK` (netmask set) */
  ifconfig?: { local: string; remote?: string; netmask?: string };
  /** `ifconfig-ipv6 ADDR/PREFIX [REMOTE]` */
  ifconfigIpv6?: { local: string; prefix: number; remote?: string };
  /** static key file (`insel genkey --secret`) */
  secret?: string;
  ca?: string;
  cert?: string;
  key?: string;
  crlVerify?: string;
  /** insel extension `profile DIR`: cert.pem, key.pem, ca.pem, crl.pem if present (`insel pki export`); never with ca/cert/key/crl-verify */
  profile?: string;
  /** IPv4 pool; the server takes network + 1 */
  server?: { network: string; netmask: string; prefix: number };
  /** IPv6 pool; the server takes network + 1 */
  serverIpv6?: { network: string; prefix: number };
  /** seconds: how often the file is written (0: read only, as OpenVPN) */
  poolPersist?: { file: string; seconds: number };
  clientToClient: boolean;
  push: PushOption[];
  /** client (or static initiator): `redirect-gateway def1` */
  redirectGateway: boolean;
  /** `route NET [MASK [GW]]`, mask default 255.255.255.255 */
  routes: { network: string; netmask: string; gateway?: string }[];
  /** `route-ipv6 NET/PREFIX [GW]` (not in DESIGN14's sketch: the IPv6 twin of routes) */
  routesIpv6: { network: string; prefix: number; gateway?: string }[];
  /** default 10 60 */
  keepalive: { intervalS: number; timeoutS: number };
  /** default DEFAULT_TUN_MTU */
  tunMtu: number;
  /**
   * The largest IP packet a TCP segment through the tunnel may make: SYNs
   * are clamped to MSS = mssfix - 40 (IPv4) or - 60 (IPv6), by family in C.
   * 0 = off; default (and `mssfix` without a number) = tunMtu.
   */
  mssfix: number;
  /** comp-lzo / compress ALGO → 'deflate', with a warning; IP packets are not compressed on the fast path */
  compression: 'none' | 'deflate';
  /** in order of preference; static mode uses the first */
  aeads: Aead[];
  user?: string;
  group?: string;
  /** 0-11, default 1 */
  verb: number;
  /** seconds: how often the file is written, default 60 */
  status?: { file: string; seconds: number };
  /** the control socket of `insel status`, default /run/insel/tunnel-NAME.sock (NAME: the config file's name without extension) */
  statusSocket: string;
  maxClients: number;
  authUserPassVerify?: { script: string; method: 'via-env' | 'via-file' };
  /** insel extension: the server's password file (src/tunnel/auth) */
  authUsers?: string;
  /** client: file with a username line and a password line */
  authUserPass?: string;
  httpProxy?: { host: string; port: number };
  /** insel extension `nat [IFACE]`: ip_forward and masquerade of the pools */
  nat?: { outInterface?: string };
  /** one line each, `file:line: directive: ...`, printed at start */
  warnings: string[];
}
