// The requests of one verified site on insel-org/1. The site's name comes
// from its certificate, never from a request; each request re-checks that
// the site is still in the registry and not revoked (an admin command in
// another process may have changed that a moment ago).
import { isHost } from '../../net/host-port.js';
import { parseHostPort } from '../../net/host-port.js';
import { newCode } from '../enroll/code.js';
import type { Request } from '../wire/messages.js';
import type { ORG_REQUESTS } from '../wire/messages.js';
import { authorize, claim, servicesFor } from './authorize.js';
import { CHANGE_SERVICES, SETTING_CA, SETTING_CRL, type HqContext } from './context.js';
import { redeem } from './enroll.js';
import { refuse } from './errors.js';
import { renewSite, renewUser } from './renew.js';
import { siteRootDer, trustBundle } from './org-pki.js';
import { CallError } from '../call/errors.js';
import type { HqCalls } from '../call/hq-calls.js';
import { CALL_PREFIX } from '../site/udp-relay.js';
import { OrgRefusedError } from '../wire/errors.js';

export type OrgRequest = Request<(typeof ORG_REQUESTS)[number]>;

/** What the connection does beyond answering: subscribe to pushed events; calls (org/call/hq-calls.ts) are held by the HQ process. */
export interface SessionHooks {
  subscribe(): void;
  calls: HqCalls;
}

function checkAddress(text: string, key: string): void {
  try {
    const hp = parseHostPort(text, key);
    if (!isHost(hp.host)) throw new Error('bad host');
  } catch {
    throw refuse('INSEL_ORG_BAD_REQUEST', `${key} ${JSON.stringify(text.slice(0, 80))} is not host:port; set public (and udp_listen) in site.toml`);
  }
}

async function liveSite(ctx: HqContext, site: string): Promise<void> {
  const row = await ctx.registry.site(site);
  if (row === undefined) throw refuse('INSEL_ORG_UNKNOWN_SITE', `site ${site} is not in the registry; add it with insel hq site add ${site}`);
  if (row.status === 'revoked') throw refuse('INSEL_ORG_UNKNOWN_SITE', `site ${site} is revoked`);
}

export async function handleSiteRequest(ctx: HqContext, site: string, req: OrgRequest, hooks: SessionHooks): Promise<object> {
  await liveSite(ctx, site);
  switch (req.type) {
    case 'register': {
      if (req.site !== site) throw refuse('INSEL_ORG_FORBIDDEN', `this certificate is site ${site}'s; it cannot register site ${req.site}: set name = "${site}" in site.toml`);
      checkAddress(req.public, 'public');
      if (req.udp !== undefined) checkAddress(req.udp, 'udp');
      await ctx.registry.registerSite(site, req.public, req.udp ?? null, req.services, ctx.now());
      await ctx.registry.publish({ kind: CHANGE_SERVICES, subject: site });
      ctx.log.info({ site, public: req.public, services: req.services.length }, 'site registered');
      return { crl: (await ctx.registry.getSetting(SETTING_CRL)) ?? '', ca: (await ctx.registry.getSetting(SETTING_CA)) ?? trustBundle(ctx.pkiDir), heartbeatMs: ctx.heartbeatMs };
    }
    case 'heartbeat':
      await ctx.registry.heartbeat(site, ctx.now());
      return {};
    case 'subscribe':
      hooks.subscribe();
      return {};
    case 'authorize':
      if (req.service.startsWith(CALL_PREFIX)) return callRefusals(hooks.calls.authorize(site, req.user, req.service));
      return authorize(ctx, site, req.user, req.service);
    case 'call':
      return callRefusals(hooks.calls.call(site, req.from, req.to));
    case 'ticket':
      return claim(ctx, site, req.ticket);
    case 'session-end':
      await endSession(ctx, site, req.ticket, req.bytesIn, req.bytesOut);
      return {};
    case 'services':
      return { services: await servicesFor(ctx, site, req.user) };
    case 'user-code':
      return userCode(ctx, site, req.name, req.groups, req.ttlS);
    case 'redeem': {
      const { cert, ca } = await redeem(ctx, req.code, req.csr, { at: 'site', site });
      return { cert, ca };
    }
    case 'renew': {
      const { cert, ca } = await renewSite(ctx, site, req.csr);
      return { cert, ca };
    }
    case 'renew-user': {
      const { cert, ca } = await renewUser(ctx, site, req.user, req.csr);
      return { cert, ca };
    }
  }
}

/** A call's refusal goes back to the site with its own code (CallError), as every refusal. */
function callRefusals<T>(p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw err instanceof CallError ? new OrgRefusedError(err.code, err.message) : err;
  });
}

/** Only a session this site is part of (it asked, or it was the target) can be ended by it. */
async function endSession(ctx: HqContext, site: string, ticket: string, bytesIn: number, bytesOut: number): Promise<void> {
  const id = ticket.split('.')[0] ?? '';
  const s = (await ctx.registry.sessions({ open: true })).find((x) => x.id === id);
  if (s === undefined) return; // ended already, or never: nothing to record
  if (s.fromSite !== site && !s.service.endsWith(`@${site}`)) throw refuse('INSEL_ORG_FORBIDDEN', `session ${id} is not one of site ${site}'s`);
  await ctx.registry.endSession(id, bytesIn, bytesOut, ctx.now());
}

/** A code for a new user of this site, with groups the site may grant. */
async function userCode(ctx: HqContext, site: string, name: string, groups: string[], ttlS: number): Promise<object> {
  const row = (await ctx.registry.site(site))!;
  const extra = groups.filter((g) => !row.groups.includes(g));
  if (extra.length > 0) {
    throw refuse('INSEL_ORG_FORBIDDEN', `site ${site} may not grant group ${extra.join(', ')} (it may grant: ${row.groups.join(', ') || 'none'}); ask HQ's admin: insel hq site add ${site} --groups …`);
  }
  const existing = await ctx.registry.user(name);
  if (existing !== undefined && existing.site !== site) throw refuse('INSEL_ORG_FORBIDDEN', `user name ${name} is taken by site ${existing.site}: user names are unique in the organization`);
  if (existing?.status === 'revoked') throw refuse('INSEL_ORG_FORBIDDEN', `user ${name} is revoked; choose another name`);
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((g) => b.includes(g));
  if (existing !== undefined && !same(existing.groups, groups)) {
    throw refuse('INSEL_ORG_FORBIDDEN', `user ${name} exists with groups ${existing.groups.join(', ') || 'none'}: a new code for them carries the same groups`);
  }
  const now = ctx.now();
  if (existing === undefined) await ctx.registry.addUser({ name, site, groups }, now);
  const siteCert = (await ctx.registry.certsOf('site', site)).filter((c) => c.revokedAt === null).pop();
  const code = newCode(siteRootDer(ctx.pkiDir, siteCert?.caSerial));
  const expiresAt = new Date(now.getTime() + ttlS * 1000);
  await ctx.registry.addCode({ id: code.id, secretHash: code.secretHash, scope: { role: 'user', name, site, groups }, expiresAt, createdBy: `site:${site}` });
  await ctx.registry.addEvent({ kind: 'code', subject: `user:${name}`, detail: { site, groups, expiresAt: expiresAt.toISOString() } }, now);
  return { code: code.text, expiresAt: expiresAt.toISOString() };
}
