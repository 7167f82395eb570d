// The user's commands in an organization, against the profile `insel login`
// wrote (~/.insel or --profile):
//   insel services                     what the user may use
//   insel open svc@site [--local-port N] [--bind ADDR] [--ftp]
//   insel run svc@site -- CMD ARGS...  ({host} and {port} replaced)
// Open access: none of them touches routes or DNS.
import type { Command } from 'commander';
import { loadUserProfile, profileDir } from '../org/client/profile.js';
import { formatServices, listServices } from '../org/client/services.js';
import { checkService, openLine, openService } from '../org/client/open.js';
import { isUdpService, openUdpService } from '../org/call/udp-open.js';
import { runWithService } from '../org/client/run.js';
import { hostOnGateway } from '../org/client/hosted.js';
import { parsePort } from './org-args.js';

const warn = (line: string) => void process.stderr.write(`insel: ${line}\n`);

export function registerOrgClient(program: Command): void {
  program
    .command('services')
    .description('list the organization services you may use')
    .option('--profile <dir>', 'your profile (default ~/.insel)')
    .action(async (o: { profile?: string }) => {
      process.stdout.write(formatServices(await listServices(loadUserProfile(profileDir(o.profile)), warn)));
    });

  program
    .command('open')
    .description('open a service of the organization on a local port until Ctrl-C')
    .argument('<service>', 'svc@site')
    .option('--local-port <n>', 'local port (default: a free one)', '0')
    .option('--bind <addr>', 'local address to listen on', '127.0.0.1')
    .option('--ftp', 'the service is FTP: relay its data connections too')
    .option('--on-gateway', 'have your site gateway listen on the LAN instead, for machines without insel (the site\'s rules must allow it)')
    .option('--lan-port <n>', 'with --on-gateway: the gateway\'s LAN port (default: a free one)', '0')
    .option('--lan-bind <addr>', 'with --on-gateway: the gateway\'s LAN address', '0.0.0.0')
    .option('--profile <dir>', 'your profile (default ~/.insel)')
    .option('-v, --verbose', 'one line per connection')
    .action(async (service: string, o: { localPort: string; bind: string; ftp?: boolean; onGateway?: boolean; lanPort: string; lanBind: string; profile?: string; verbose?: boolean }) => {
      if (o.onGateway) {
        const hosted = await hostOnGateway(loadUserProfile(profileDir(o.profile)), checkService(service), o.lanBind, parsePort(o.lanPort, '--lan-port'), warn);
        process.stdout.write(`${service} is at ${hosted.bound} on your site gateway's LAN, until Ctrl-C\n`);
        let stopped = false;
        const stop = () => ((stopped = true), hosted.close());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const why = await hosted.ended;
        if (!stopped) warn(`the LAN listener ended: ${why}`);
        process.exit(stopped ? 0 : 1);
      }
      const profile = loadUserProfile(profileDir(o.profile));
      const udp = o.ftp !== true && (await isUdpService(profile, checkService(service), warn));
      const open = await (udp ? openUdpService : openService)({
        profile,
        service: checkService(service),
        bind: o.bind,
        port: parsePort(o.localPort, '--local-port'),
        ftp: o.ftp === true,
        warn,
        ...(o.verbose ? { verbose: (line: string) => void process.stderr.write(`${line}\n`) } : {}),
      });
      process.stdout.write(`${openLine(service, open)}\n`);
      const stop = () => void open.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  program
    .command('run')
    .description('run a program against a service: {host} and {port} in its arguments become the relay\'s address')
    .argument('<service>', 'svc@site')
    .argument('<command...>', 'the program and its arguments, after --')
    .option('--ftp', 'the service is FTP: relay its data connections too')
    .option('--profile <dir>', 'your profile (default ~/.insel)')
    .action(async (service: string, command: string[], o: { ftp?: boolean; profile?: string }) => {
      const status = await runWithService({ profile: loadUserProfile(profileDir(o.profile)), service: checkService(service), bind: '127.0.0.1', ftp: o.ftp === true, warn }, command);
      process.exit(status);
    });
}
