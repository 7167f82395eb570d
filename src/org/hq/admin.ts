// The admin commands of `insel hq`, acting on the registry directly (HQ need
// not run) and publishing each change, so that every running HQ on the same
// database pushes its effect to its gateways within a second.
import type { CertRow, SiteRow, SessionRow } from '../../store/types.js';
import { StoreError } from '../../store/errors.js';
import { SUBJECT_MAX } from '../../store/changes.js';
import { newCode } from '../enroll/code.js';
import { issueCert } from '../../pki/issue.js';
import { listRoots, retireCa, rolloverCa } from '../../pki/rollover.js';
import { CHANGE_REVOKED, CHANGE_TRUST, SETTING_CA, SETTING_CRL, type HqContext } from './context.js';
import { HqError } from './errors.js';
import { signOrgCrl } from './org-crl.js';
import { HQ_NAME, hqHosts, pinnedRootDer, trustBundle } from './org-pki.js';

export interface SiteCode {
  code: string;
  expiresAt: Date;
}

/** Adds site `name` (or keeps it, to re-enroll) with the groups it may grant; returns its single-use code. */
export async function addSite(ctx: HqContext, name: string, groups: string[], ttlMs: number): Promise<SiteCode> {
  const existing = await ctx.registry.site(name);
  if (existing?.status === 'revoked') throw new HqError(`site ${name} is revoked; choose another name`, { field: 'name' });
  if (existing === undefined) {
    await ctx.registry.addSite(name, groups).catch((err: unknown) => {
      if (!(err instanceof StoreError && err.code === 'INSEL_STORE_EXISTS')) throw err;
    });
  }
  const now = ctx.now();
  const code = newCode(pinnedRootDer(ctx.pkiDir));
  const expiresAt = new Date(now.getTime() + ttlMs);
  await ctx.registry.addCode({ id: code.id, secretHash: code.secretHash, scope: { role: 'site', name, groups: [] }, expiresAt, createdBy: 'hq' });
  await ctx.registry.addEvent({ kind: 'code', subject: `site:${name}`, detail: { groups, expiresAt: expiresAt.toISOString() } }, now);
  return { code: code.text, expiresAt };
}

export type RevokeWhat = 'user' | 'site' | 'serial';

export interface RevokeOutcome {
  revoked: CertRow[];
  names: { role: string; name: string }[];
  crl: string;
}

/** Revokes a user, a site or one certificate; signs and stores the new CRL; publishes it. */
export async function revokeIdentity(ctx: HqContext, what: RevokeWhat, subject: string, reason: string): Promise<RevokeOutcome> {
  const now = ctx.now();
  const names: { role: string; name: string }[] = [];
  let revoked: CertRow[];
  if (what === 'serial') {
    revoked = await ctx.registry.revokeCerts({ serial: subject.toLowerCase().replace(/^0+(?=.)/, '') }, reason, now);
    if (revoked.length === 0) throw new HqError(`no certificate with serial ${subject} is valid in the registry (see insel hq status)`, { field: 'serial' });
  } else {
    const known = what === 'user' ? await ctx.registry.user(subject) : await ctx.registry.site(subject);
    if (known === undefined) throw new HqError(`there is no ${what} ${subject} in the registry`, { field: what });
    if (what === 'user') await ctx.registry.setUserStatus(subject, 'revoked');
    else await ctx.registry.setSiteStatus(subject, 'revoked' satisfies SiteRow['status']);
    revoked = await ctx.registry.revokeCerts({ role: what, name: subject }, reason, now);
    names.push({ role: what, name: subject });
  }
  for (const c of revoked) if (!names.some((n) => n.role === c.role && n.name === c.name) && what !== 'serial') names.push({ role: c.role, name: c.name });
  const crl = await signOrgCrl(ctx);
  const serials = revoked.map((c) => c.serial);
  await ctx.registry.addEvent({ kind: 'revoke', subject: `${what}:${subject}`, detail: { serials, reason } }, now);
  await ctx.registry.publish({ kind: CHANGE_REVOKED, subject: revokedNotice(what === 'serial', serials, names, reason) });
  return { revoked, names, crl };
}

/**
 * The change notice of a revocation. A notice is at most SUBJECT_MAX
 * characters; an identity with many certificates or a long reason would not
 * fit, so then only what sites cut by goes in (the names, or the one serial,
 * and the reason cut short): the CRL in the registry carries every serial.
 */
export function revokedNotice(bySerial: boolean, serials: string[], names: { role: string; name: string }[], reason: string): string {
  const full = JSON.stringify({ serials, names, reason });
  return full.length <= SUBJECT_MAX ? full : JSON.stringify({ serials: bySerial ? serials : [], names, reason: reason.slice(0, 200) });
}

export interface HqStatus {
  sites: SiteRow[];
  sessions: SessionRow[];
  crl: boolean;
}

export async function status(ctx: HqContext): Promise<HqStatus> {
  return { sites: await ctx.registry.sites(), sessions: await ctx.registry.sessions({ open: true, limit: 1000 }), crl: (await ctx.registry.getSetting(SETTING_CRL)) !== undefined };
}

/** Stores the trust bundle and CRL of DIR/pki as it is now and tells every HQ (which push `trust` to their gateways). */
async function publishTrust(ctx: HqContext, kind: string, detail: object): Promise<void> {
  await ctx.registry.setSetting(SETTING_CA, trustBundle(ctx.pkiDir));
  await signOrgCrl(ctx);
  await ctx.registry.addEvent({ kind, subject: 'ca', detail }, ctx.now());
  await ctx.registry.publish({ kind: CHANGE_TRUST, subject: kind });
}

/** A new root signs from now on; HQ's own certificate moves to it (new codes pin it); both roots stay trusted. */
export async function rolloverOrgCa(ctx: HqContext): Promise<{ generation: number; serial: string; roots: number[] }> {
  const r = await rolloverCa({ dir: ctx.pkiDir });
  await issueCert({ dir: ctx.pkiDir, role: 'hq', name: HQ_NAME, hosts: hqHosts(ctx.pkiDir), force: true });
  await publishTrust(ctx, 'ca-rollover', { generation: r.root.generation, serial: r.root.serial });
  return { generation: r.root.generation, serial: r.root.serial, roots: r.roots.filter((x) => x.retired === undefined).map((x) => x.generation) };
}

/**
 * The identities (`role:name`, `user:name@site`) whose every live
 * certificate in the registry root `generation` signed: retiring it locks
 * them out until they enroll again. What to renew first.
 */
export async function strandedBy(ctx: HqContext, generation: number): Promise<string[]> {
  const root = listRoots(ctx.pkiDir).find((r) => r.generation === generation);
  if (root === undefined) return [];
  const onOther = new Set<string>();
  const onRoot = new Set<string>();
  for (const c of await ctx.registry.liveCerts(ctx.now())) (c.caSerial === root.serial ? onRoot : onOther).add(`${c.role}:${c.name}${c.role === 'user' && c.site !== null ? `@${c.site}` : ''}`);
  return [...onRoot].filter((who) => !onOther.has(who));
}

/** Root `generation` is no longer trusted: what it signed is refused everywhere from now on. */
export async function retireOrgCa(ctx: HqContext, generation: number): Promise<{ roots: number[] }> {
  const r = await retireCa({ dir: ctx.pkiDir, generation });
  await publishTrust(ctx, 'ca-retire', { generation, serial: r.root.serial });
  return { roots: r.roots.filter((x) => x.retired === undefined).map((x) => x.generation) };
}
