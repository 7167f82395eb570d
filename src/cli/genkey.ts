// `insel genkey --secret FILE`: a new OpenVPN-format static key (2048 bits),
// written with mode 0600; an existing file only with --force.
import type { Command } from 'commander';
import { writeStaticKey } from '../pki/static-key.js';

export function registerGenkey(program: Command): void {
  program
    .command('genkey')
    .description('write a new static key (OpenVPN "Static key V1" format, 2048 bits)')
    .requiredOption('--secret <file>', 'file to write (mode 0600)')
    .option('--force', 'overwrite an existing file')
    .action((o: { secret: string; force?: boolean }) => {
      writeStaticKey(o.secret, o.force === true);
      process.stdout.write(`wrote a 2048-bit static key to ${o.secret} (mode 0600)\n`);
    });
}
