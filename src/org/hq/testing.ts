// A real HQ for tests, in-process on loopback: a fresh directory (org CA,
// HQ certificate, registry) and a running HqServer; sites enrolled through
// the real insel-enroll/1 path, and their HQ links.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { profileFiles, readIdentityFiles } from '../../config/identity.js';
import type { IdentityPem } from '../../pki/profile.js';
import { enrollWithCode } from '../enroll/client.js';
import { connectHq, type HqLink } from '../wire/hq-link.js';
import { addSite } from './admin.js';
import type { HqContext } from './context.js';
import { initHq } from './init.js';
import { openHq } from './open.js';
import { HqServer } from './server.js';

export const silentLog = pino({ level: 'silent' });

export interface TestHq {
  dir: string;
  ctx: HqContext;
  server: HqServer;
  hq: { host: string; port: number };
  /** adds and enrolls a site; its profile directory */
  enrollSite(name: string, groups?: string[]): Promise<{ dir: string; identity: IdentityPem }>;
  /** an HQ link for an enrolled site, closed at cleanup */
  link(identity: IdentityPem): HqLink;
  close(): Promise<void>;
}

export async function startTestHq(o: { database?: string; dir?: string; org?: string; heartbeat?: string } = {}): Promise<TestHq> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'insel-hq-'));
  await initHq({ dir, org: o.org ?? 'Acme', hosts: ['127.0.0.1'], listen: '127.0.0.1:0', ...(o.database === undefined ? {} : { database: o.database }) }, silentLog);
  // The enrollment race opens 50 connections from one address at once.
  const file = join(dir, 'hq.toml');
  if (o.heartbeat !== undefined) writeFileSync(file, readFileSync(file, 'utf8').replace('heartbeat = "5s"', `heartbeat = "${o.heartbeat}"`));
  appendFileSync(file, '[limits]\nunauthenticated_per_source = 100\nunauthenticated_total = 200\n');
  return runTestHq(dir, o.dir === undefined);
}

/** Runs HQ on an existing directory (a copy of another's, for two HQs on one database). */
export async function runTestHq(dir: string, owned: boolean): Promise<TestHq> {
  const { config, ctx } = await openHq(dir, silentLog);
  const server = await HqServer.start(ctx, config);
  const hq = { host: '127.0.0.1', port: server.port };
  const links: HqLink[] = [];
  return {
    dir,
    ctx,
    server,
    hq,
    async enrollSite(name, groups = []) {
      const { code } = await addSite(ctx, name, groups, 3600_000);
      const siteDir = join(dir, `site-${name}`);
      await enrollWithCode({ server: hq, code, dir: siteDir, role: 'site' });
      return { dir: siteDir, identity: readIdentityFiles(profileFiles(siteDir)) };
    },
    link(identity) {
      const l = connectHq({ hq, identity, timeoutMs: 5000, backoff: { minMs: 50, maxMs: 500 } });
      links.push(l);
      return l;
    },
    async close() {
      for (const l of links) l.close();
      await server.close();
      await ctx.registry.close();
      if (owned) rmSync(dir, { recursive: true, force: true });
    },
  };
}
