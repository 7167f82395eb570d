// The OS edge of the IP tunnel: a TUN (IP packets) or TAP (Ethernet frames)
// device and the data plane's UDP socket, opened by the addon (native/tun.c)
// nonblocking for the plane's poll. Only this folder holds their fds.
import { closeSync } from 'node:fs';
import { addon } from '../native/addon.js';
import { TunDeviceError } from './errors.js';

export interface TunDevice {
  readonly fd: number;
  /** The kernel's name for it (e.g. insel0 when none was asked for). */
  readonly name: string;
  readonly tap: boolean;
  /** Opened with TUN offloads: the data plane must be created with `offload` too. */
  readonly offload: boolean;
  close(): void;
}

export interface UdpSocket {
  readonly fd: number;
  readonly port: number;
  close(): void;
}

function errnoOf(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : '';
}

function closer(fd: number): () => void {
  let open = true;
  return () => {
    if (open) closeSync(fd);
    open = false;
  };
}

/**
 * Opens a TUN (or, with tap, TAP) device; name '' or undefined lets the kernel number one (insel0, insel1, ...).
 * offload (TUN only): the kernel hands over TCP super-packets of up to 64 KiB, one read each (ARCHITECTURE.md).
 */
export function openTun(opts: { name?: string; tap?: boolean; offload?: boolean } = {}): TunDevice {
  const name = opts.name ?? '';
  const tap = opts.tap ?? false;
  const offload = opts.offload ?? false;
  const what = `${tap ? 'TAP' : 'TUN'} device ${name === '' ? '(any name)' : name}`;
  if (tap && offload) throw new TunDeviceError('INSEL_TUN_OPEN', `${what}: offload is for TUN devices only`, { field: 'dev' });
  if (Buffer.byteLength(name) > 15) throw new TunDeviceError('INSEL_TUN_NAME', `${what}: a device name has at most 15 bytes`, { field: 'dev' });
  let r: { fd: number; name: string };
  try {
    r = addon.tunOpen(name, tap, offload);
  } catch (cause) {
    const code = errnoOf(cause);
    const hint =
      code === 'ENOENT' || code === 'ENODEV' ? 'no /dev/net/tun: load the tun module (modprobe tun)'
      : code === 'EPERM' || code === 'EACCES' ? 'CAP_NET_ADMIN needed: run as root'
      : code === 'EBUSY' ? 'the device is in use by another program'
      : code === 'EINVAL' ? `the name is invalid or a device of another kind has it`
      : 'see the cause';
    throw new TunDeviceError('INSEL_TUN_OPEN', `cannot open ${what}: ${hint}`, { field: 'dev', cause });
  }
  return { fd: r.fd, name: r.name, tap, offload, close: closer(r.fd) };
}

/** The data plane's UDP socket: unconnected, nonblocking, large buffers; '::' takes IPv4 too. */
export function openUdp(host: string, port: number): UdpSocket {
  let r: { fd: number; port: number };
  try {
    r = addon.udpOpen(host, port);
  } catch (cause) {
    const code = errnoOf(cause);
    const hint = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'a port below 1024 needs root' : code === 'EADDRNOTAVAIL' ? 'no interface has that address' : 'see the cause';
    throw new TunDeviceError('INSEL_UDP_OPEN', `cannot open UDP ${host}:${port}: ${hint}`, { peer: `${host}:${port}`, cause });
  }
  return { fd: r.fd, port: r.port, close: closer(r.fd) };
}
