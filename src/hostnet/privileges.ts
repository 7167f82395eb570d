// `user` / `group`: after the TUN device, sockets, addresses, routes and
// NAT are set up as root, the daemon gives up root for good (setgroups,
// setgid, then setuid: the kernel clears every capability on the last one).
//
// What that means for undo: without CAP_NET_ADMIN the daemon cannot remove
// routes or NAT rules at exit. The setup is arranged so that this matters
// little:
// - every route through the tunnel (redirect-gateway's /1 routes, pushed
//   routes) names the TUN device; the kernel deletes the device when its last
//   fd closes (our exit, even by SIGKILL) and the device's routes with it;
// - what outlives us, the host route to the server and the server's NAT
//   table and forwarding setting, is in a root-owned state file in /run/insel
//   written before the change; the next start as root (repairRoutes,
//   repairNat) undoes it. undo() after a privilege drop fails with a
//   HostnetError saying exactly this, and the daemon logs it as a warning.
// OpenVPN behaves the same way (its docs suggest `persist-tun` or a
// privileged helper); a helper process kept as root would be the next step if
// a stale host route to the server turns out to matter.
import { execFileSync } from 'node:child_process';
import { HostnetError } from './errors.js';

/** The numeric ids after the drop. */
export interface Dropped {
  uid: number;
  gid: number;
}

/**
 * Becomes `user` (and `group`; without one, the user's primary group),
 * keeping no supplementary groups. Either may be undefined: `group` alone
 * changes only the group. Throws a HostnetError naming what failed.
 */
export function dropPrivileges(user: string | undefined, group: string | undefined): Dropped {
  if (user === undefined && group === undefined) throw new HostnetError('INSEL_HOSTNET_MISSING', 'dropPrivileges: neither a user nor a group given');
  if (process.setuid === undefined || process.setgid === undefined || process.setgroups === undefined) {
    throw new HostnetError('INSEL_HOSTNET_MISSING', '`user`/`group` is not supported on this platform');
  }
  if (process.getuid?.() !== 0) {
    throw new HostnetError('INSEL_HOSTNET_MISSING', `\`user\`/\`group\` needs a start as root (we run as uid ${process.getuid?.()}); remove them or start as root`);
  }
  const gid = group ?? primaryGroup(user!);
  try {
    process.setgroups!([gid]);
    process.setgid!(gid);
  } catch (err) {
    throw new HostnetError('INSEL_HOSTNET_MISSING', `cannot change to group ${JSON.stringify(String(gid))}: ${(err as Error).message}; check \`group\` (getent group NAME)`, { field: 'group', cause: err });
  }
  if (user !== undefined) {
    try {
      process.setuid!(user);
    } catch (err) {
      throw new HostnetError('INSEL_HOSTNET_MISSING', `cannot change to user ${JSON.stringify(user)}: ${(err as Error).message}; check \`user\` (getent passwd NAME)`, { field: 'user', cause: err });
    }
  }
  return { uid: process.getuid!(), gid: process.getgid!() };
}

/** The user's primary group id, through NSS as `id -g` sees it (Node has no getpwnam). */
function primaryGroup(user: string): number {
  try {
    return Number(execFileSync('id', ['-g', '--', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim());
  } catch (err) {
    throw new HostnetError('INSEL_HOSTNET_MISSING', `no such user: ${JSON.stringify(user)}; check \`user\` (getent passwd NAME)`, { field: 'user', cause: err });
  }
}
