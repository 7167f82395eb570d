// Why a listener could not bind, in words a user can act on.

/** The reason for a failed listen(): in use, permission, no such address, or the errno code. */
export function listenReason(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'the port is already in use';
  if (err.code === 'EACCES') return 'permission denied (ports below 1024 need root)';
  if (err.code === 'EADDRNOTAVAIL') return 'this machine has no such address';
  return err.code ?? err.message;
}
