// `insel site run --dir DIR`: the site gateway (org/site/site-gateway.ts)
// with its HQ link. Logs pino JSON lines on stdout; SIGHUP reloads site.toml
// (a bad one is reported and the old one kept); SIGTERM/SIGINT close
// cleanly, cutting relays with the reason.
// `insel site user add NAME --groups a,b [--ttl 24h] --dir DIR`: asks HQ,
// over the site's identity, for a user's single-use enrollment code.
// `insel site renew --dir DIR`: after a CA rollover, the site's certificate
// onto the newest root (org/site/renew.ts).
import type { Command } from 'commander';
import { pino } from 'pino';
import { readIdentityFiles } from '../config/identity.js';
import { formatHostPort } from '../net/host-port.js';
import { connectHq } from '../org/wire/hq-link.js';
import { loadSiteConfig } from '../org/site/config.js';
import { SiteGateway } from '../org/site/site-gateway.js';
import { loadSiteConfigOfDir } from '../org/hq/own-site.js';
import { renewOntoNewestRoot } from '../org/site/renew.js';
import { PUBLIC_MODE, writeFileAtomic } from '../pki/store.js';
import { tuneHeapForDataPath } from './data-path-heap.js';
import { siteCommand } from './site-enroll.js';
import { durationArg, groupsArg } from './org-args.js';

const LOG_FLUSH_MS = 100;

export function registerSite(program: Command): void {
  const site = siteCommand(program);
  site
    .command('run')
    .description('run this site gateway: relays between sites, its users, its services (DIR/site.toml)')
    .requiredOption('--dir <dir>', 'the site directory (site.toml, identity/)')
    .action(async (o: { dir: string }) => {
      const config = loadSiteConfig(o.dir);
      tuneHeapForDataPath();
      const log = pino({ level: config.gateway.logLevel, base: { pid: process.pid, site: config.name } }, pino.destination({ dest: 1, sync: false, minLength: 4096 }));
      setInterval(() => log.flush(), LOG_FLUSH_MS).unref();
      const hq = connectHq({ hq: config.hq, identity: readIdentityFiles(config.gateway.identity, config.file), log });
      let gw: SiteGateway;
      try {
        gw = await SiteGateway.start({ config, log, hq });
      } catch (err) {
        hq.close();
        throw err;
      }
      process.on('SIGHUP', () => {
        try {
          gw.reload(loadSiteConfig(o.dir));
        } catch (err) {
          log.error({ dir: o.dir, reason: (err as Error).message }, 'reload failed; the previous config stays in force');
        }
      });
      const stop = (signal: string) => {
        log.info({ signal }, 'site gateway stopping');
        void gw.close().then(() => {
          hq.close();
          log.flush();
          process.exit(0);
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });

  site
    .command('renew')
    .description("after insel hq ca rollover: move this site's certificate onto the newest root (same key); then reload the running site gateway (SIGHUP)")
    .requiredOption('--dir <dir>', 'the site directory (site.toml, identity/)')
    .action(async (o: { dir: string }) => {
      const config = loadSiteConfig(o.dir);
      const identity = readIdentityFiles(config.gateway.identity, config.file);
      const hq = connectHq({ hq: config.hq, identity });
      try {
        const renewed = await renewOntoNewestRoot(hq, identity, config.name);
        if (renewed === undefined) return void process.stdout.write(`site ${config.name}: the certificate is on the newest root already\n`);
        writeFileAtomic(config.gateway.identity.certFile, renewed.cert, { mode: PUBLIC_MODE, force: true });
        writeFileAtomic(config.gateway.identity.caFile, renewed.ca, { mode: PUBLIC_MODE, force: true });
        process.stdout.write(`site ${config.name}: renewed ${config.gateway.identity.certFile}; reload the running site gateway (kill -HUP its pid) to present it\n`);
      } finally {
        hq.close();
      }
    });

  site
    .command('user')
    .description("this site's users")
    .command('add')
    .description('ask HQ for a single-use enrollment code for a user of this site; the user runs the printed insel login')
    .argument('<name>', 'the user name (unique in the organization)')
    .requiredOption('--dir <dir>', "the site directory (site.toml, identity/), or HQ's for its own LAN's site ([site])")
    .option('--groups <a,b>', 'the user\'s groups (within those HQ lets this site grant)', groupsArg, [] as string[])
    .option('--ttl <duration>', 'how long the code is valid, e.g. 24h, 30m', durationArg, 24 * 3600_000)
    .action(async (name: string, o: { dir: string; groups: string[]; ttl: number }) => {
      const config = loadSiteConfigOfDir(o.dir);
      const hq = connectHq({ hq: config.hq, identity: readIdentityFiles(config.gateway.identity, config.file) });
      try {
        const c = await hq.userCode(name, o.groups, Math.ceil(o.ttl / 1000));
        const at = config.public ?? formatHostPort(config.gateway.listen.host, config.gateway.listen.port);
        process.stdout.write(`user ${name} of site ${config.name} (groups ${o.groups.join(', ') || 'none'}): single-use code, valid until ${c.expiresAt}:\n  ${c.code}\non the user's machine:\n  insel login --site ${at} --code ${c.code}\n`);
      } finally {
        hq.close();
      }
    });
}
