// `insel run svc@site -- CMD ARGS...`: opens the service on a free local
// port, runs CMD (no shell) with {host} and {port} in its arguments replaced
// by the relay's address (seed 000 §5.1 step 4), and returns its exit status.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { UsageError } from '../../errors.js';
import { openService, type OpenOptions } from './open.js';
import { listServices } from './services.js';

/** The arguments with {host} and {port} filled in. */
export function fillArgs(args: readonly string[], host: string, port: number): string[] {
  return args.map((a) => a.replaceAll('{host}', host).replaceAll('{port}', String(port)));
}

export async function runWithService(o: Omit<OpenOptions, 'port'>, command: string[]): Promise<number> {
  const [cmd, ...args] = command;
  if (cmd === undefined) throw new UsageError('insel run: give the command after --, e.g. insel run web@branch -- curl http://{host}:{port}/');
  // A refusal would otherwise show only when CMD connects (and CMD may never connect, then exit 0).
  const known = (await listServices(o.profile, o.warn)).find((s) => `${s.name}@${s.site}` === o.service);
  if (known === undefined) throw new UsageError(`insel run: ${o.service} is not among the services you may use; insel services lists them, your site admin grants the groups`);
  if (!known.online) throw new UsageError(`insel run: ${o.service} is offline: site ${known.site}'s gateway has not reported to HQ recently; try again later or ask its admin`);
  const open = await openService({ ...o, port: 0 });
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(cmd, fillArgs(args, open.host, open.port), { stdio: 'inherit' });
      child.once('error', (err: NodeJS.ErrnoException) => reject(new UsageError(`insel run: cannot run ${cmd}: ${err.code === 'ENOENT' ? 'no such program' : err.message}`, { cause: err })));
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
    });
  } finally {
    await open.close();
  }
}
