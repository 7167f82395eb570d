// `insel hq …`: the organization's HQ. init creates DIR (CA, HQ's
// certificate, hq.toml, registry); run serves sites and enrollment; the
// admin commands (site add, revoke, ca rollover|retire, status) act on the
// registry directly and publish their change, so a running HQ — any HQ on
// the same database — pushes the effect to its gateways within a second.
import { appendFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { pino, type Logger } from 'pino';
import { durationMs } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { formatHostPort } from '../net/host-port.js';
import { checkName } from '../pki/identity.js';
import { addSite, retireOrgCa, revokeIdentity, rolloverOrgCa, status, strandedBy, type RevokeWhat } from '../org/hq/admin.js';
import type { HqConfig } from '../org/hq/config.js';
import type { HqContext } from '../org/hq/context.js';
import { initHq } from '../org/hq/init.js';
import { openHq } from '../org/hq/open.js';
import { ownSiteTable, startOwnSite, type OwnSite } from '../org/hq/own-site.js';
import { hqHosts } from '../org/hq/org-pki.js';
import { HqServer } from '../org/hq/server.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const silent = pino({ level: 'silent' });

function ttl(value: string): number {
  const ms = durationMs(value);
  if (typeof ms === 'string') throw new InvalidArgumentError(ms);
  return ms;
}

function names(value: string): string[] {
  return value === '' ? [] : value.split(',').map((g) => checkName(g.trim(), 'group'));
}

/** Runs an admin command on DIR's registry, closing it after. */
async function withHq<T>(dir: string, log: Logger, fn: (ctx: HqContext, config: HqConfig) => Promise<T>): Promise<T> {
  const { config, ctx } = await openHq(dir, log);
  try {
    return await fn(ctx, config);
  } finally {
    await ctx.registry.close();
  }
}

/** How sites reach HQ: its listen address, or (listening on all addresses) the first name in HQ's certificate. */
function hqAddress(config: HqConfig, pkiDir: string): string {
  const wildcard = ['0.0.0.0', '::'].includes(config.listen.host);
  if (!wildcard) return formatHostPort(config.listen.host, config.listen.port);
  const host = hqHosts(pkiDir)[0] ?? hostname();
  return formatHostPort(host, config.listen.port);
}

export function registerHq(program: Command): void {
  const hq = program.command('hq').description("the organization's HQ: registry, enrollment codes, revocation");

  hq.command('init')
    .description('create an HQ directory: org CA (or an adopted insel pki directory), HQ certificate, hq.toml, registry')
    .requiredOption('--dir <dir>', 'HQ directory')
    .option('--org <name>', 'organization name (required unless --adopt)')
    .option('--adopt <pki_dir>', 'take over an existing insel pki directory (its certificates stay valid)')
    .option('--host <name...>', "DNS names or IPs sites reach HQ by, for HQ's certificate (repeatable)")
    .option('--listen <host:port>', 'listen address written to hq.toml', '0.0.0.0:7443')
    .option('--database <url>', '"sqlite" (DIR/hq.db) or postgres://user:password@host/db', 'sqlite')
    .option('--site <name>', "also run the site gateway of HQ's own LAN under this site name ([site] in hq.toml)")
    .option('--site-listen <host:port>', "that site gateway's listen address", '0.0.0.0:7444')
    .action(async (o: { dir: string; org?: string; adopt?: string; host?: string[]; listen: string; database: string; site?: string; siteListen: string }) => {
      const siteTable = o.site === undefined ? undefined : ownSiteTable(o.site, o.siteListen);
      const r = await initHq({ dir: o.dir, ...(o.org === undefined ? {} : { org: o.org }), ...(o.adopt === undefined ? {} : { adopt: o.adopt }), hosts: o.host ?? [], listen: o.listen, database: o.database }, silent);
      if (siteTable !== undefined) appendFileSync(r.config, siteTable);
      out(`created HQ of org ${JSON.stringify(r.org)} in ${r.dir}: ${r.config}, pki/ (CA and HQ's certificate), registry (${o.database})`);
      out(`next: insel hq run --dir ${o.dir}   and   insel hq site add NAME --dir ${o.dir}`);
    });

  hq.command('run')
    .description('run HQ: insel-org/1 for sites, insel-enroll/1 for enrollment codes')
    .requiredOption('--dir <dir>', 'HQ directory')
    .action(async (o: { dir: string }) => {
      const log = pino({ base: { pid: process.pid } });
      const { config, ctx } = await openHq(o.dir, log);
      const server = await HqServer.start(ctx, config);
      log.info({ listen: server.address, org: config.org, database: ctx.registry.dialect }, 'HQ listening');
      let own: OwnSite | undefined;
      try {
        own = await startOwnSite({ ctx, config, hqPort: server.port, log });
      } catch (err) {
        await server.close();
        await ctx.registry.close();
        throw err;
      }
      const stop = (signal: string) => {
        log.info({ signal }, 'HQ stopping');
        // The site gateway first: its relays end with the reason while HQ still answers.
        void (own?.close() ?? Promise.resolve())
          .then(() => server.close())
          .then(() => ctx.registry.close())
          .then(() => process.exit(0));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });

  const site = hq.command('site').description('sites of the organization');
  site
    .command('add <name>')
    .description('add a site (or re-enroll it) and print its single-use enrollment code')
    .requiredOption('--dir <dir>', 'HQ directory')
    .option('--groups <a,b>', 'groups the site may grant its users', names, [] as string[])
    .option('--ttl <duration>', 'how long the code is valid, e.g. 24h, 30m', ttl, 24 * 3600_000)
    .action(async (name: string, o: { dir: string; groups: string[]; ttl: number }) => {
      checkName(name, 'site name');
      await withHq(o.dir, silent, async (ctx, config) => {
        const c = await addSite(ctx, name, o.groups, o.ttl);
        out(`site ${name} added (may grant: ${o.groups.join(', ') || 'no group'}); enrollment code, single-use, valid until ${c.expiresAt.toISOString()}:`);
        out(`  ${c.code}`);
        out(`on the site's gateway run:`);
        out(`  insel site enroll --hq ${hqAddress(config, ctx.pkiDir)} --code ${c.code} --dir SITE_DIR`);
      });
    });

  hq.command('revoke <what> <subject>')
    .description('revoke a user, a site or a certificate serial: every gateway cuts its sessions and relays within a second')
    .requiredOption('--dir <dir>', 'HQ directory')
    .option('--reason <text>', 'why (shown to the client; a CRL reason name such as keyCompromise is also put in the CRL)', 'unspecified')
    .action(async (what: string, subject: string, o: { dir: string; reason: string }) => {
      if (!['user', 'site', 'serial'].includes(what)) throw new UsageError(`revoke ${JSON.stringify(what)}: use insel hq revoke user NAME | site NAME | serial HEX`);
      if (o.reason.length > 200) throw new UsageError('--reason is longer than 200 characters');
      await withHq(o.dir, silent, async (ctx) => {
        const r = await revokeIdentity(ctx, what as RevokeWhat, subject, o.reason);
        out(`revoked ${what} ${subject}: ${r.revoked.length} certificate(s) (${r.revoked.map((c) => c.serial).join(', ') || 'none valid'}); new CRL published to every HQ and gateway`);
      });
    });

  const ca = hq.command('ca').description("the organization's root CA: rollover to a new root, retire an old one");
  ca.command('rollover')
    .description('create a new root beside the old: it signs from now on (HQ too), both are trusted until the old one is retired')
    .requiredOption('--dir <dir>', 'HQ directory')
    .action(async (o: { dir: string }) => {
      await withHq(o.dir, silent, async (ctx) => {
        const r = await rolloverOrgCa(ctx);
        out(`root CA ${r.generation} (serial ${r.serial}) signs from now on; trusted roots: ${r.roots.join(', ')}; the new trust bundle is pushed to every gateway, and users take it from their site on their next session`);
        out('then: insel site renew at each site (once its users have connected), insel renew for each user, and insel hq ca retire for the old root');
        out(`codes made before now pin the old root: make new ones. Copy ${ctx.pkiDir} to any other HQ on this database.`);
      });
    });
  ca.command('retire <generation>')
    .description('stop trusting an old root (never the newest): certificates it signed are refused from now on')
    .requiredOption('--dir <dir>', 'HQ directory')
    .option('--force', 'retire it even though some sites or users still hold only certificates of it (they must enroll again)')
    .action(async (generation: string, o: { dir: string; force?: boolean }) => {
      if (!/^[0-9]{1,4}$/.test(generation)) throw new UsageError(`generation ${JSON.stringify(generation)}: use the number insel hq ca rollover printed (1 for the first root)`);
      await withHq(o.dir, silent, async (ctx) => {
        const stranded = await strandedBy(ctx, Number(generation));
        if (stranded.length > 0 && o.force !== true) {
          const shown = stranded.slice(0, 20).join(', ') + (stranded.length > 20 ? `, and ${stranded.length - 20} more` : '');
          throw new UsageError(`root CA ${generation} still signs the only valid certificate of ${stranded.length} identit${stranded.length === 1 ? 'y' : 'ies'}: ${shown}; renew them first (insel site renew at a site, insel renew for a user), or add --force to retire it anyway (they must enroll again)`);
        }
        const r = await retireOrgCa(ctx, Number(generation));
        out(`root CA ${generation} retired; trusted roots now: ${r.roots.join(', ')}; pushed to every gateway`);
      });
    });

  hq.command('status')
    .description('sites, their last heartbeat, open sessions')
    .requiredOption('--dir <dir>', 'HQ directory')
    .action(async (o: { dir: string }) => {
      await withHq(o.dir, silent, async (ctx) => {
        const s = await status(ctx);
        out(`sites (${s.sites.length}):`);
        for (const x of s.sites) out(`  ${x.name}  ${x.status}  public ${x.public ?? '-'}  last heartbeat ${x.lastHeartbeat?.toISOString() ?? 'never'}  may grant ${x.groups.join(',') || '-'}`);
        out(`open sessions (${s.sessions.length}):`);
        for (const x of s.sessions) out(`  ${x.user}@${x.fromSite} -> ${x.service} since ${x.startedAt.toISOString()}`);
      });
    });
}
