// iproute2 as a typed API: links, addresses and routes, each call one
// `ip` argument vector (never a shell string), in the current namespace or a
// named one (`ip -n NS`). Reads use `ip -j` (JSON) so nothing parses text.
import { isIP } from 'node:net';
import { CommandError, HostnetError } from './errors.js';
import { run, type NetnsOption } from './exec.js';

export interface IpOptions extends NetnsOption {
  /** appended to the error message instead of the default */
  hint?: string;
}

/** Runs `ip args` (with `-n NS` when opts.netns) and resolves its stdout. */
export function ip(args: readonly string[], opts: IpOptions = {}): Promise<string> {
  const full = opts.netns === undefined ? args : ['-n', opts.netns, ...args];
  return run('ip', full, opts.hint === undefined ? {} : { hint: opts.hint });
}

/** Sets a link's MTU and/or brings it up or down. */
export async function setLink(dev: string, o: { mtu?: number; up?: boolean }, opts: IpOptions = {}): Promise<void> {
  const args = ['link', 'set', 'dev', dev];
  if (o.mtu !== undefined) args.push('mtu', String(o.mtu));
  if (o.up !== undefined) args.push(o.up ? 'up' : 'down');
  await ip(args, opts);
}

/**
 * Adds an address to `dev`. `cidr` is "10.8.0.1/24", "fd00::1/64", or a
 * bare v4 address with `peer` for a point-to-point tun ("ifconfig L R":
 * `ip addr add L peer R dev tun0`). IPv6 addresses skip duplicate address
 * detection: a tunnel has no duplicates, and DAD would leave the address
 * unusable for a second or two after start.
 */
export async function addAddress(dev: string, cidr: string, peer?: string, opts: IpOptions = {}): Promise<void> {
  const v6 = cidr.includes(':');
  const args = [...(v6 ? ['-6'] : []), 'addr', 'add', cidr, ...(peer === undefined ? [] : ['peer', peer]), 'dev', dev];
  if (v6) args.push('nodad');
  await ip(args, opts);
}

/** A route as `ip route` takes it: destination (CIDR, a bare address = host route), and a gateway and/or device. */
export interface Route {
  dst: string;
  via?: string;
  dev?: string;
}

function routeArgs(verb: 'add' | 'del', r: Route): string[] {
  return [...(r.dst.includes(':') ? ['-6'] : []), 'route', verb, r.dst, ...(r.via === undefined ? [] : ['via', r.via]), ...(r.dev === undefined ? [] : ['dev', r.dev])];
}

export async function addRoute(r: Route, opts: IpOptions = {}): Promise<void> {
  await ip(routeArgs('add', r), opts);
}

/** Deletes a route; resolves false when it was not there (already gone: its device vanished, or undone before). */
export async function delRoute(r: Route, opts: IpOptions = {}): Promise<boolean> {
  try {
    await ip(routeArgs('del', r), opts);
    return true;
  } catch (err) {
    if (err instanceof CommandError && /No such process|Cannot find device|No such device/.test(err.stderr)) return false;
    throw err;
  }
}

/** How the kernel reaches an address: gateway (absent when on-link), device, preferred source. */
export interface RouteLookup {
  gateway?: string;
  dev: string;
  src?: string;
}

interface IpJsonRoute {
  dst?: unknown;
  gateway?: unknown;
  dev?: unknown;
  prefsrc?: unknown;
}

function lookupOf(j: IpJsonRoute | undefined): RouteLookup | undefined {
  if (j === undefined || typeof j.dev !== 'string') return undefined;
  return {
    dev: j.dev,
    ...(typeof j.gateway === 'string' ? { gateway: j.gateway } : {}),
    ...(typeof j.prefsrc === 'string' ? { src: j.prefsrc } : {}),
  };
}

function parseJson(out: string, what: string): IpJsonRoute[] {
  try {
    const j: unknown = JSON.parse(out === '' ? '[]' : out);
    return Array.isArray(j) ? (j as IpJsonRoute[]) : [];
  } catch (err) {
    throw new HostnetError('INSEL_HOSTNET_COMMAND', `\`ip -j ${what}\` printed no JSON; is iproute2 too old (before 4.14)?`, { cause: err });
  }
}

/** `ip route get HOST`: the gateway and device the kernel uses for `host` now. */
export async function routeGet(host: string, opts: IpOptions = {}): Promise<RouteLookup> {
  if (isIP(host) === 0) throw new HostnetError('INSEL_HOSTNET_MISSING', `not an IP address: ${JSON.stringify(host)} (resolve the name first)`);
  const out = await ip(['-j', 'route', 'get', host], { hint: `is there a route to ${host}?`, ...opts });
  const r = lookupOf(parseJson(out, 'route get')[0]);
  if (r === undefined) throw new HostnetError('INSEL_HOSTNET_MISSING', `\`ip route get ${host}\` named no device`);
  return r;
}

/** The default route of a family (its gateway and device), or undefined when there is none. */
export async function defaultRoute(family: 4 | 6, opts: IpOptions = {}): Promise<RouteLookup | undefined> {
  const out = await ip([`-${family}`, '-j', 'route', 'show', 'default'], opts);
  return lookupOf(parseJson(out, 'route show default')[0]);
}

/** The routes of the main table as `ip -j route show` lists them, each as "dst via gw dev d" (for tests and diagnostics). */
export async function listRoutes(family: 4 | 6, opts: IpOptions = {}): Promise<string[]> {
  const out = await ip([`-${family}`, '-j', 'route', 'show'], opts);
  return parseJson(out, 'route show').map((r) => [r.dst, r.gateway === undefined ? '' : `via ${String(r.gateway)}`, r.dev === undefined ? '' : `dev ${String(r.dev)}`].filter((s) => s !== '').join(' '));
}

/** A Linux interface name: 1–15 bytes, no '/', ':' or whitespace, not "." or "..". */
export function isDeviceName(name: string): boolean {
  return /^[^\s/:]{1,15}$/.test(name) && name !== '.' && name !== '..';
}
