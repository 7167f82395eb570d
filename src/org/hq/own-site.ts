// HQ's own LAN (hq.toml [site], seed 000: S1 starts an S2 for the main LAN):
// HQ runs that LAN's site gateway in its process — the same SiteGateway as
// `insel site run`, connected to this HQ over loopback like any other site
// (register, heartbeat, events), so it gets no shortcut around HQ's checks.
// HQ is the CA, so no code is needed: at first start the site's key is made
// in its identity dir (DIR/site/identity by default, key.pem 0600) and HQ
// signs a CSR for it directly, recording the certificate like any other.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, configError } from '../../config/errors.js';
import { readIdentityFiles } from '../../config/identity.js';
import { formatHostPort, parseHostPort } from '../../net/host-port.js';
import { newKeyPair, privateKeyPem } from '../../pki/certgen.js';
import { createCsr } from '../../pki/csr.js';
import { isValidName } from '../../pki/identity.js';
import { KEY_MODE, PRIVATE_DIR_MODE, PUBLIC_MODE, writeFileAtomic } from '../../pki/store.js';
import { StoreError } from '../../store/errors.js';
import { loadSiteConfig, SITE_CONFIG_FILE, siteConfigFromRaw, type SiteConfig } from '../site/config.js';
import { SiteGateway } from '../site/site-gateway.js';
import { connectHq, type HqLink } from '../wire/hq-link.js';
import { HQ_CONFIG, loadHqConfig, type HqConfig } from './config.js';
import { SETTING_CRL, type HqContext } from './context.js';
import { HqError } from './errors.js';
import { issueFromCsr } from './issue.js';

/** Where the site's identity lives unless [site] names a profile or cert/key/ca: relative to HQ's DIR. */
export const OWN_SITE_PROFILE = 'site/identity';

export interface OwnSiteConfig {
  site: SiteConfig;
  /** the groups HQ lets this site grant its users, set when HQ first adds the site ([site] groups) */
  groups: string[];
}

/** DIR's site config: its site.toml, or in an HQ directory hq.toml's [site] (so `insel site user add --dir HQ_DIR` serves HQ's LAN too). */
export function loadSiteConfigOfDir(dir: string): SiteConfig {
  if (existsSync(join(dir, SITE_CONFIG_FILE)) || !existsSync(join(dir, HQ_CONFIG))) return loadSiteConfig(dir);
  const config = loadHqConfig(dir);
  const own = ownSiteConfig(config, config.listen.port);
  if (own === undefined) throw configError(config.file, 'site', `${dir} is an HQ directory without a site of its own: add a [site] table (name = "…") to run one, or give --dir a site's directory`);
  return own.site;
}

/** The site gateway of HQ's LAN as hq.toml's [site] says, checked by the site config's own parser; errors name hq.toml and site.KEY. */
export function ownSiteConfig(config: HqConfig, hqPort: number): OwnSiteConfig | undefined {
  if (config.site === undefined) return undefined;
  const { groups, ...table } = config.site;
  if (groups !== undefined && !(Array.isArray(groups) && groups.every((g) => typeof g === 'string' && isValidName(g)))) {
    throw configError(config.file, 'site.groups', 'must be a list of group names this site may grant its users, e.g. groups = ["eng"]');
  }
  if (table['hq'] !== undefined) throw configError(config.file, 'site.hq', "HQ's own site gateway connects to this HQ's listen address; leave hq out");
  const identity = table['profile'] === undefined && table['cert'] === undefined ? { profile: OWN_SITE_PROFILE } : {};
  const hq = formatHostPort(loopbackOf(config.listen.host), hqPort);
  try {
    return { site: siteConfigFromRaw({ ...identity, ...table, hq }, config.file), groups: (groups as string[] | undefined) ?? [] };
  } catch (err) {
    throw underSite(err, config.file);
  }
}

/** The site parser names a key as site.toml has it (listen); in hq.toml it is site.listen. */
function underSite(err: unknown, file: string): unknown {
  if (!(err instanceof ConfigError) || err.field === undefined) return err;
  const head = `${file}: ${err.field}: `;
  return configError(file, `site.${err.field}`, err.message.startsWith(head) ? err.message.slice(head.length) : err.message, err);
}

/** HQ listening on all addresses is reached at loopback by its own site. */
function loopbackOf(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  return host === '::' ? '::1' : host;
}

/**
 * Adds the site to the registry if it is new, and, if its identity files are
 * missing, makes its key here and has HQ sign it. True when it issued one.
 */
export async function ensureOwnSiteIdentity(ctx: HqContext, own: OwnSiteConfig): Promise<boolean> {
  const { name, gateway } = own.site;
  const known = await ctx.registry.site(name);
  if (known?.status === 'revoked') throw new HqError(`${own.site.file}: site.name: site ${name} is revoked; choose another name for HQ's own site`, { file: own.site.file, field: 'site.name' });
  if (known === undefined) {
    // Another HQ on the same database may add it at the same moment.
    await ctx.registry.addSite(name, own.groups).catch((err: unknown) => {
      if (!(err instanceof StoreError && err.code === 'INSEL_STORE_EXISTS')) throw err;
    });
  }
  const id = gateway.identity;
  if (existsSync(id.certFile) && existsSync(id.keyFile)) return false;
  const keys = await newKeyPair();
  const issued = await issueFromCsr(ctx, { role: 'site', name, groups: [] }, await createCsr(keys, name));
  mkdirSync(dirname(id.keyFile), { recursive: true, mode: PRIVATE_DIR_MODE });
  writeFileAtomic(id.keyFile, await privateKeyPem(keys.privateKey), { mode: KEY_MODE, force: true });
  writeFileAtomic(id.certFile, issued.cert, { mode: PUBLIC_MODE, force: true });
  writeFileAtomic(id.caFile, issued.ca, { mode: PUBLIC_MODE, force: true });
  const crl = await ctx.registry.getSetting(SETTING_CRL);
  if (crl !== undefined) writeFileAtomic(id.crlFile ?? join(dirname(id.certFile), 'crl.pem'), crl, { mode: PUBLIC_MODE, force: true });
  await ctx.registry.addEvent({ kind: 'enroll', subject: `site:${name}`, detail: { serial: issued.serial, from: "hq (its own LAN's site)" } }, ctx.now());
  ctx.log.info({ site: name, serial: issued.serial, identity: dirname(id.certFile) }, "identity issued for HQ's own site");
  return true;
}

export interface OwnSite {
  gateway: SiteGateway;
  link: HqLink;
  /** the site gateway first (its relays cut with the reason), then its HQ link */
  close(): Promise<void>;
}

/** Starts the site gateway of HQ's LAN if hq.toml has [site]; HQ (at hqPort) must be listening. */
export async function startOwnSite(o: { ctx: HqContext; config: HqConfig; hqPort: number; log: Logger }): Promise<OwnSite | undefined> {
  const own = ownSiteConfig(o.config, o.hqPort);
  if (own === undefined) return undefined;
  // A new crl.pem is part of the identity from the next parse on.
  const site = (await ensureOwnSiteIdentity(o.ctx, own)) ? ownSiteConfig(o.config, o.hqPort)!.site : own.site;
  // One log for the process; [site] log_level, if set, is the site gateway's level in it.
  const log = o.log.child({ part: 'site gateway' }, o.config.site?.['log_level'] === undefined ? {} : { level: site.gateway.logLevel });
  const link = connectHq({ hq: site.hq, identity: readIdentityFiles(site.gateway.identity, site.file), log });
  try {
    const gateway = await SiteGateway.start({ config: site, log, hq: link });
    return {
      gateway,
      link,
      close: async () => {
        await gateway.close();
        link.close();
      },
    };
  } catch (err) {
    link.close();
    throw err;
  }
}

/** The [site] table `insel hq init --site NAME [--site-listen H:P]` appends to hq.toml. */
export function ownSiteTable(name: string, listen: string): string {
  if (!isValidName(name)) throw new HqError(`--site ${JSON.stringify(name)}: use 1-64 characters of A-Z a-z 0-9 . _ -`, { field: 'site' });
  parseHostPort(listen, '--site-listen', { allowPortZero: true });
  return [
    '',
    "# the site gateway of HQ's own LAN, run by insel hq run (keys of site.toml, see docs/PROTOCOL.md §7.6)",
    '[site]',
    `name = ${JSON.stringify(name)}`,
    `listen = ${JSON.stringify(listen)}`,
    '# groups = ["eng"]   # the groups it may grant its users (set when HQ first adds the site)',
    '',
  ].join('\n');
}
