// HQ's part of the relay policy: may this user (of the asking site) use
// svc@site now? The registry decides, not the request: the user's groups
// and status come from the registry, the asking site from its certificate.
// An authorization is a ticket "<id>.<secret>" (only SHA-256 of the secret
// is stored), single-use, bound to the target site, valid 30 s; the target
// site claims it to learn who comes.
import { createHash, randomBytes } from 'node:crypto';
import type { Registry, ServiceRow, UserRow } from '../../store/types.js';
import type { Authorization, OrgUser, ServiceInfo, TicketInfo } from '../wire/hq-api.js';
import type { HqContext } from './context.js';
import { OrgRefusedError } from '../wire/errors.js';
import { refuse, type OrgRefusalCode } from './errors.js';

export const TICKET_TTL_MS = 30_000;

function hash(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** The registry's record of a user the asking site vouches for: active and of that site (also for renew.ts). */
export async function userOfSite(registry: Registry, user: OrgUser, asker: string): Promise<UserRow> {
  const u = await registry.user(user.name);
  if (u === undefined) throw refuse('INSEL_ORG_DENIED', `user ${user.name} is not in the organization's registry; enroll them with insel site user add ${user.name}`);
  if (u.status !== 'active') throw refuse('INSEL_ORG_DENIED', `user ${user.name} is revoked`);
  if (u.site !== asker) throw refuse('INSEL_ORG_FORBIDDEN', `user ${user.name} belongs to site ${u.site}, not to site ${asker}: a site speaks only for its own users`);
  return u;
}

function common(a: readonly string[], b: readonly string[]): boolean {
  return a.some((g) => b.includes(g));
}

function groupsText(groups: readonly string[]): string {
  return groups.length === 0 ? 'no group' : groups.join(', ');
}

export async function authorize(ctx: HqContext, asker: string, user: OrgUser, ref: string): Promise<Authorization> {
  const at = ref.lastIndexOf('@');
  const [name, siteName] = [ref.slice(0, at), ref.slice(at + 1)];
  const denied = async (code: OrgRefusalCode, reason: string) => {
    await ctx.registry.addEvent({ kind: 'authorize-refused', subject: user.name, detail: { service: ref, from: asker, code, reason } }, ctx.now());
    return refuse(code, reason);
  };
  const u = await userOfSite(ctx.registry, user, asker).catch(async (err: unknown) => {
    throw err instanceof OrgRefusedError ? await denied(err.code as OrgRefusalCode, err.reason) : err;
  });
  const svc = await ctx.registry.service(name, siteName);
  if (svc === undefined) throw await denied('INSEL_ORG_UNKNOWN_SERVICE', `there is no service ${name} at site ${siteName} (see insel services)`);
  if (!common(u.groups, svc.groups)) {
    throw await denied('INSEL_ORG_DENIED', `user ${u.name} (groups: ${groupsText(u.groups)}) is in none of the groups of ${ref} (${groupsText(svc.groups)})`);
  }
  const site = await ctx.registry.site(siteName);
  if (site?.status !== 'online' || site.public === null) throw await denied('INSEL_ORG_SITE_DOWN', `site ${siteName} is ${site?.status ?? 'unknown'}: its gateway has not reported to HQ recently`);

  return {
    ticket: await mintTicket(ctx, asker, u.name, ref, siteName),
    site: { name: site.name, public: site.public, ...(site.udp === null ? {} : { udp: site.udp }) },
    service: { name: svc.name, proto: svc.proto },
  };
}

/** A ticket for `user` of site `asker` to `ref` at `targetSite`: single-use, valid TICKET_TTL_MS (also for calls, org/call/hq-calls.ts). */
export async function mintTicket(ctx: HqContext, asker: string, user: string, ref: string, targetSite: string): Promise<string> {
  const id = randomBytes(12).toString('base64url');
  const secret = randomBytes(24).toString('base64url');
  const now = ctx.now();
  await ctx.registry.openSession({ id, user, service: ref, fromSite: asker, startedAt: now, targetSite, expiresAt: new Date(now.getTime() + TICKET_TTL_MS), secretHash: hash(secret) });
  return `${id}.${secret}`;
}

/** The target site claims a ticket: who comes, for which service. */
export async function claim(ctx: HqContext, asker: string, ticket: string): Promise<TicketInfo> {
  const dot = ticket.indexOf('.');
  const session = dot > 0 ? await ctx.registry.claimTicket(ticket.slice(0, dot), hash(ticket.slice(dot + 1)), asker, ctx.now()) : undefined;
  if (session === undefined) {
    await ctx.registry.addEvent({ kind: 'ticket-refused', subject: ticket.slice(0, Math.max(dot, 0)).slice(0, 40), detail: { from: asker } }, ctx.now());
    throw refuse('INSEL_ORG_TICKET', `the ticket is unknown, already used, expired (tickets last ${TICKET_TTL_MS / 1000} s) or for another site than ${asker}`);
  }
  const u = await ctx.registry.user(session.user);
  const certs = await ctx.registry.certsOf('user', session.user);
  const serial = certs.filter((c) => c.revokedAt === null).at(-1)?.serial ?? '0';
  return { user: { name: session.user, site: session.fromSite, groups: u?.groups ?? [], serial }, service: session.service, fromSite: session.fromSite };
}

/** What `user` may use: every service sharing a group with them, with whether its site is online. */
export async function servicesFor(ctx: HqContext, asker: string, user: OrgUser): Promise<ServiceInfo[]> {
  const u = await userOfSite(ctx.registry, user, asker);
  const sites = new Map((await ctx.registry.sites()).map((s) => [s.name, s.status]));
  return (await ctx.registry.services())
    .filter((s: ServiceRow) => common(u.groups, s.groups))
    .map((s) => ({ name: s.name, proto: s.proto, groups: s.groups, site: s.site, online: sites.get(s.site) === 'online' }));
}
