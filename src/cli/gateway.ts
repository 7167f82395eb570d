// `insel gateway --config gateway.toml`: the service-tunnel gateway. Logs
// pino JSON lines on stdout; SIGHUP reloads policy and CRL (a bad new
// config is reported and the old one kept); SIGTERM/SIGINT close cleanly.
import type { Command } from 'commander';
import { pino } from 'pino';
import { Gateway } from '../forward/gateway.js';
import { loadGatewayConfig } from '../forward/gateway-config.js';
import { tuneHeapForDataPath } from './data-path-heap.js';

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('run a service-tunnel gateway: mTLS, insel/1 forwards, HTTP CONNECT, UDP forwards, policy')
    .requiredOption('--config <file>', 'gateway config (TOML; see examples/gateway.toml)')
    .action(async (o: { config: string }) => {
      const config = loadGatewayConfig(o.config);
      tuneHeapForDataPath();
      // Asynchronous: a line per connection must not hold the event loop in a
      // write to stdout (pino flushes what is left on exit).
      const log = pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: false }));
      const gw = await Gateway.start(config, log);
      log.info({ listen: gw.listenAddress, udp: gw.udpChannelTcpPort ?? null, rules: config.policy.size, config: config.file }, 'gateway listening');
      process.on('SIGHUP', () => {
        try {
          gw.reload(loadGatewayConfig(o.config));
        } catch (err) {
          log.error({ config: o.config, reason: (err as Error).message }, 'reload failed; the previous config stays in force');
        }
      });
      const stop = (signal: string) => {
        log.info({ signal }, 'gateway stopping');
        void gw.close().then(() => process.exit(0));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
