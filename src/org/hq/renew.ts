// Renewing a certificate at HQ: a site's own (`renew`, after a CA rollover)
// and a user's (`renew-user`, forwarded by the user's site from the user's
// authenticated session). Either way the identity comes from the asking
// site's certificate or from the registry, never from the CSR, and the root
// that signs now signs it (issue.ts). A user renews only while active in the
// registry, of the asking site, and with a live certificate HQ issued: a
// revoked user, or a revoked certificate, is refused with the reason. Every
// outcome is an event.
import { PkiError } from '../../pki/errors.js';
import type { OrgUser } from '../wire/hq-api.js';
import { OrgRefusedError } from '../wire/errors.js';
import { userOfSite } from './authorize.js';
import type { HqContext } from './context.js';
import { refuse } from './errors.js';
import { issueFromCsr, type Issued } from './issue.js';

export async function renewSite(ctx: HqContext, site: string, csr: string): Promise<Issued> {
  const issued = await csrRefusals(issueFromCsr(ctx, { role: 'site', name: site, groups: [] }, csr));
  await ctx.registry.addEvent({ kind: 'renew', subject: `site:${site}`, detail: { serial: issued.serial } }, ctx.now());
  return issued;
}

/** `user` is who site `site` saw on its session (name, certificate serial); name, site and groups of the new certificate are the registry's. */
export async function renewUser(ctx: HqContext, site: string, user: OrgUser, csr: string): Promise<Issued> {
  const from = `site ${site}`;
  try {
    // The certificate first: revoking a user revokes its certificates, and theirs is the reason HQ was given.
    const seen = (await ctx.registry.certsOf('user', user.name)).find((c) => c.serial === user.serial);
    if (seen !== undefined && seen.revokedAt !== null) throw refuse('INSEL_ORG_DENIED', `certificate ${user.serial} of user ${user.name} is revoked${seen.reason ? ` (${seen.reason})` : ''}: it cannot be renewed`);
    const u = await userOfSite(ctx.registry, user, site);
    if (seen === undefined) throw refuse('INSEL_ORG_DENIED', `certificate ${user.serial} is not one HQ issued to user ${u.name}; log in again with a new code (insel site user add ${u.name})`);
    const issued = await csrRefusals(issueFromCsr(ctx, { role: 'user', name: u.name, site, groups: u.groups }, csr));
    await ctx.registry.addEvent({ kind: 'renew', subject: `user:${u.name}`, detail: { serial: issued.serial, previous: user.serial, from } }, ctx.now());
    ctx.log.info({ user: u.name, serial: issued.serial, previous: user.serial, from }, 'user certificate renewed');
    return issued;
  } catch (err) {
    if (!(err instanceof OrgRefusedError)) throw err;
    await ctx.registry.addEvent({ kind: 'renew-refused', subject: `user:${user.name}`, detail: { serial: user.serial, code: err.code, reason: err.reason, from } }, ctx.now());
    ctx.log.warn({ user: user.name, code: err.code, reason: err.reason, from }, 'renewal refused');
    throw err;
  }
}

/** A CSR HQ cannot read is the requester's mistake: a refusal with readCsr's reason, not an internal error. */
function csrRefusals<T>(p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw err instanceof PkiError && err.code === 'INSEL_PKI_BAD_CSR' ? new OrgRefusedError(err.code, err.message) : err;
  });
}
