// `insel gateway --config gateway.toml`: the service-tunnel gateway. Logs
// pino JSON lines on stdout; SIGHUP reloads policy and CRL (a bad new
// config is reported and the old one kept); SIGTERM/SIGINT close cleanly.
import type { Command } from 'commander';
import { pino } from 'pino';
import { Gateway } from '../gateway/gateway.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { tuneHeapForDataPath } from './data-path-heap.js';

const LOG_BATCH = 4096;
const LOG_FLUSH_MS = 100;

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('run a service-tunnel gateway: mTLS, insel/1 forwards, HTTP CONNECT, UDP forwards, policy')
    .requiredOption('--config <file>', 'gateway config (TOML; see examples/gateway.toml)')
    .action(async (o: { config: string }) => {
      const config = loadGatewayConfig(o.config);
      tuneHeapForDataPath();
      // Buffered and asynchronous: a line per connection must not cost a
      // write (and a wake-up of whoever reads stdout) per connection. Lines
      // go out once LOG_BATCH bytes wait or after LOG_FLUSH_MS, and on exit.
      const log = pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH }));
      setInterval(() => log.flush(), LOG_FLUSH_MS).unref();
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
