// Redeeming an enrollment code at HQ: directly over insel-enroll/1 (a new
// site, or a user enrolling at HQ) or forwarded by a site over insel-org/1
// (`redeem`: a user of that site). The CSR is checked before the code is
// spent; the code is spent by one atomic statement (exactly one winner of a
// race); then its scope decides the certificate. Every outcome is an event.
import { PkiError } from '../../pki/errors.js';
import { readCsr } from '../../pki/csr.js';
import type { CodeRow } from '../../store/types.js';
import { parseCode } from '../enroll/code.js';
import { enrollRefusal, EnrollError } from '../enroll/errors.js';
import { OrgRefusedError } from '../wire/errors.js';
import type { HqContext } from './context.js';
import { issueFromCsr, type Issued } from './issue.js';

/** Where the code was presented: at HQ itself, or forwarded by site `site` for one of its users. */
export type RedeemAt = { at: 'hq'; from: string } | { at: 'site'; site: string };

const WHY = { unknown: 'INSEL_CODE_UNKNOWN', secret: 'INSEL_CODE_UNKNOWN', used: 'INSEL_CODE_USED', expired: 'INSEL_CODE_EXPIRED' } as const;

/** The certificate for the code's scope, or OrgRefusedError with the code's error (INSEL_CODE_*, INSEL_PKI_BAD_CSR). */
export async function redeem(ctx: HqContext, text: string, csr: string, where: RedeemAt): Promise<Issued> {
  const from = where.at === 'hq' ? where.from : `site ${where.site}`;
  let id = '-';
  try {
    const code = parseCode(text);
    id = code.id;
    await readCsr(csr);
    // A site forwards only codes of its own users: one of another place is refused and stays unspent.
    const r = await ctx.registry.redeemCode(code.id, code.secretHash, ctx.now(), where.at === 'site' ? { role: 'user', site: where.site } : undefined);
    if (!r.ok) throw r.why === 'scope' ? scopeRefusal(r.code, where.at === 'site' ? where.site : '') : enrollRefusal(WHY[r.why]);
    const issued = await issueFromCsr(ctx, r.code, csr);
    await ctx.registry.setCodeSerial(code.id, issued.serial);
    await ctx.registry.addEvent({ kind: 'enroll', subject: `${r.code.role}:${r.code.name}`, detail: { code: id, serial: issued.serial, from } }, ctx.now());
    ctx.log.info({ role: r.code.role, name: r.code.name, serial: issued.serial, from }, 'enrolled');
    return issued;
  } catch (err) {
    if (!(err instanceof EnrollError) && !(err instanceof PkiError && err.code === 'INSEL_PKI_BAD_CSR')) throw err;
    await ctx.registry.addEvent({ kind: 'enroll-refused', subject: id, detail: { code: err.code, reason: err.message, from } }, ctx.now());
    ctx.log.warn({ code: err.code, id, from, reason: err.message }, 'enrollment refused');
    throw new OrgRefusedError(err.code, err.message);
  }
}

/** Why a code (still unspent) cannot be redeemed through site `site`; HQ takes site codes and user codes. */
function scopeRefusal(code: CodeRow, site: string): EnrollError {
  if (code.role !== 'user') return enrollRefusal('INSEL_CODE_SCOPE', `it enrolls site ${code.name}: use it with insel site enroll --hq HQ_ADDRESS (it is still valid)`);
  return enrollRefusal('INSEL_CODE_SCOPE', `it enrolls ${code.name} at site ${code.site ?? '?'}, not at site ${site}: log in at that site's gateway (it is still valid)`);
}
