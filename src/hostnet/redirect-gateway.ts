// The client's `redirect-gateway def1` (OpenVPN's semantics): all traffic
// through the tunnel without replacing the default route.
//
//   server/32 via <original gateway> dev <original device>   (so the tunnel's own packets still leave directly)
//   0.0.0.0/1 dev <tun>, 128.0.0.0/1 dev <tun>               (more specific than default, so they win)
//   ::/1 dev <tun>, 8000::/1 dev <tun>                        (with IPv6)
//
// The routes via the tunnel device vanish by themselves when the device
// does (the kernel drops a device's routes with it, and a TUN device dies
// with the fd of the process that made it, even after a SIGKILL); the host
// route to the server does not. So every route is written to a state file
// BEFORE it is added, and the next start (repairRoutes) removes what a
// crashed run left. undo() removes the routes and the file; it is idempotent.
import { isIP } from 'node:net';
import { z } from 'zod';
import { afterPrivilegeDrop, CommandError, HostnetError } from './errors.js';
import { addRoute, delRoute, isDeviceName, routeGet, type IpOptions, type Route } from './ip.js';
import { readState, removeState, stateFilePath, writeState } from './state-file.js';

const SPLIT4 = ['0.0.0.0/1', '128.0.0.0/1'];
const SPLIT6 = ['::/1', '8000::/1'];

const routeSchema = z.strictObject({
  dst: z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/),
  via: z.string().refine((s) => isIP(s) !== 0, 'not an IP address').optional(),
  dev: z.string().refine(isDeviceName, 'not a device name').optional(),
});

const stateSchema = z.strictObject({
  version: z.literal(1),
  kind: z.literal('redirect-gateway'),
  dev: z.string().refine(isDeviceName),
  server: z.string(),
  routes: z.array(routeSchema).max(8),
});
type RedirectState = z.infer<typeof stateSchema>;

/** /run/insel/redirect-<dev>.json */
export function redirectStateFile(dev: string): string {
  return stateFilePath('redirect', dev);
}

/**
 * Sends all traffic through `dev` except the tunnel's own packets to
 * `server` (an IP address). With `v6`, IPv6 too. Repairs a crashed earlier
 * run's routes from `stateFile` first. Resolves undo().
 */
export async function redirectGateway(server: string, dev: string, v6: boolean, stateFile: string = redirectStateFile(dev), opts: IpOptions = {}): Promise<() => Promise<void>> {
  const family = isIP(server);
  if (family === 0) throw new HostnetError('INSEL_HOSTNET_MISSING', `redirect-gateway needs the server's IP address, got ${JSON.stringify(server)}`);
  if (!isDeviceName(dev)) throw new HostnetError('INSEL_HOSTNET_MISSING', `not a device name: ${JSON.stringify(dev)}`);
  await repairRoutes(stateFile, opts);

  const orig = await routeGet(server, opts);
  if (orig.dev === dev) {
    throw new HostnetError('INSEL_HOSTNET_MISSING', `the route to the server ${server} already goes through ${dev}; remove the stale routes (\`ip route\`) and start again`);
  }
  const host: Route = { dst: `${server}/${family === 4 ? 32 : 128}`, dev: orig.dev, ...(orig.gateway === undefined ? {} : { via: orig.gateway }) };
  const split = [...SPLIT4, ...(v6 ? SPLIT6 : [])].map((dst): Route => ({ dst, dev }));
  const state: RedirectState = { version: 1, kind: 'redirect-gateway', dev, server, routes: [host, ...split] };
  writeState(stateFile, state);

  const added: Route[] = [];
  try {
    for (const r of state.routes) {
      try {
        await addRoute(r, opts);
        added.push(r);
      } catch (err) {
        // A host route to the server that exists already is not ours: keep it, and never remove it.
        if (r !== host || !(err instanceof CommandError && /File exists/.test(err.stderr))) throw err;
        writeState(stateFile, { ...state, routes: split });
      }
    }
  } catch (err) {
    await removeRoutes(added, opts).catch(() => undefined);
    removeState(stateFile);
    throw err;
  }

  let undone: Promise<void> | undefined;
  return () => {
    undone ??= removeRoutes(added, opts).then(
      () => removeState(stateFile),
      (err: unknown) => {
        undone = undefined; // a later call may retry
        throw afterPrivilegeDrop(err, 'the redirect-gateway routes (those via the tunnel device go with the device when we exit; the host route to the server stays)', stateFile);
      },
    );
    return undone;
  };
}

/** Deletes routes newest first; one that is already gone is fine. */
async function removeRoutes(routes: readonly Route[], opts: IpOptions): Promise<void> {
  for (const r of [...routes].reverse()) await delRoute(r, opts);
}

/**
 * Removes the routes a crashed run recorded in `stateFile`, then the file.
 * Resolves the routes it found there ([] when there was no file).
 */
export async function repairRoutes(stateFile: string, opts: IpOptions = {}): Promise<Route[]> {
  const state = readState(stateFile, stateSchema);
  if (state === undefined) return [];
  const routes = state.routes.map((r): Route => ({ dst: r.dst, ...(r.via === undefined ? {} : { via: r.via }), ...(r.dev === undefined ? {} : { dev: r.dev }) }));
  await removeRoutes(routes, opts);
  removeState(stateFile);
  return routes;
}
