// The command line of the bench's peer processes (forward-peers.js,
// udp-peers.js): `node SCRIPT ROLE key=value…`. A server role prints
// "listening PORT" and runs until killed or re-parented; a client role
// prints one JSON line and exits. BENCH_PEER_TIMEOUT_MS bounds any role.

export function arg(name: string): number {
  const n = Number(text(name));
  if (!Number.isFinite(n)) fail(`bad ${name}=`);
  return n;
}

/** A numeric argument that may be absent. */
export function optionalArg(name: string): number | undefined {
  return process.argv.some((x) => x.startsWith(`${name}=`)) ? arg(name) : undefined;
}

export function text(name: string): string {
  const a = process.argv.find((x) => x.startsWith(`${name}=`));
  if (a === undefined) fail(`missing ${name}=`);
  return a.slice(name.length + 1);
}

export function fail(msg: string): never {
  process.stderr.write(`${process.argv[2] ?? 'peer'}: ${msg}\n`);
  process.exit(1);
}

/** Servers exit when the bench that started them is gone (re-parented). */
function exitWithParent(): void {
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && process.exit(0), 1000).unref();
  process.on('SIGTERM', () => process.exit(0));
}

export async function runRole(servers: Record<string, () => Promise<void>>, clients: Record<string, () => Promise<void>>): Promise<void> {
  const role = process.argv[2] ?? '';
  const limit = Number(process.env.BENCH_PEER_TIMEOUT_MS ?? 0);
  if (limit > 0) setTimeout(() => fail(`gave up after ${limit} ms`), limit).unref();
  const server = Object.hasOwn(servers, role) ? servers[role] : undefined;
  const client = Object.hasOwn(clients, role) ? clients[role] : undefined;
  if (server === undefined && client === undefined) fail(`unknown role; one of ${[...Object.keys(servers), ...Object.keys(clients)].join(', ')}`);
  try {
    if (server) {
      exitWithParent();
      await server();
    } else {
      await client?.();
      process.exit(0);
    }
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}
