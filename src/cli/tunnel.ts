// `insel tunnel --config FILE`: the IP tunnel (TUN/TAP over UDP, TCP as a
// fallback). FILE is an OpenVPN-style directive file or the same settings
// as .toml (docs/TUNNEL-CONFIG.md). Logs go to stderr; SIGINT/SIGTERM undo
// routes, NAT and the device and exit 0; SIGHUP reloads the CA and CRL.
import type { Command } from 'commander';
import { loadTunnelConfig } from '../tunconfig/index.js';
import { runTunnel } from '../tunnel/daemon.js';
import { consoleLog } from '../tunnel/log.js';
import { registerTunnelPasswd } from './tunnel-passwd.js';

export function registerTunnel(program: Command): Command {
  const tunnel = program
    .command('tunnel')
    .description('run an IP tunnel (TUN/TAP over UDP): static key, CA server or client; OpenVPN-style config')
    .option('--config <file>', 'tunnel config: OpenVPN directives, or TOML when it ends in .toml')
    .action(async (o: { config?: string }) => {
      if (o.config === undefined) {
        tunnel.help({ error: true });
        return;
      }
      const cfg = loadTunnelConfig(o.config);
      const log = consoleLog(cfg.verb);
      const t = await runTunnel(cfg, log);
      process.on('SIGHUP', () => t.reload());
      const stop = (signal: string) => {
        log.info(`${signal}: stopping`);
        void t.stop(`peer shutting down (${signal})`).then(() => process.exit(0));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  registerTunnelPasswd(tunnel);
  return tunnel;
}
