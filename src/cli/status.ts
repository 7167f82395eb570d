// `insel status [--json] [--socket PATH]`: a running tunnel's clients, read
// from its control socket. Without --socket, the one tunnel-*.sock under
// /run/insel is used; with none or several, the user is asked for --socket.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { STATUS_SOCKET_DIR } from '../tunconfig/defaults.js';
import { readStatus } from '../tunnel/status/status-socket.js';
import { formatStatusText } from '../tunnel/status/status-text.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("show a running insel tunnel's clients: virtual and real address, transport rung, MTU, bytes, handshake, key epoch")
    .option('--json', 'print the status as JSON')
    .option('--socket <path>', `the tunnel's status socket (default: the only tunnel-*.sock in ${STATUS_SOCKET_DIR})`)
    .action(async (o: { json?: boolean; socket?: string }) => {
      const s = await readStatus(o.socket ?? findStatusSocket(STATUS_SOCKET_DIR));
      process.stdout.write(o.json === true ? `${JSON.stringify(s, null, 2)}\n` : formatStatusText(s));
    });
}

/** The only tunnel-*.sock in `dir`; UsageError naming what was found otherwise. */
export function findStatusSocket(dir: string): string {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith('tunnel-') && n.endsWith('.sock'));
  } catch {
    names = [];
  }
  if (names.length === 1) return join(dir, names[0]!);
  if (names.length === 0) throw new UsageError(`no tunnel status socket in ${dir}: is insel tunnel running? (pass --socket PATH if its config sets status-socket)`);
  throw new UsageError(`several tunnels run here (${names.sort().join(', ')} in ${dir}): choose one with --socket PATH`);
}
