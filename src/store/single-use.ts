// Enrollment codes and relay tickets: each is taken by one conditional
// UPDATE (changed rows = 1 wins), so of 50 racing redeemers exactly one gets
// it, whichever connection or process they use. A wrong secret never takes
// a code; why a redeem failed is read afterwards and only told to the holder
// of the right secret.
import { timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Schema } from './schema.js';
import type { RedeemPlace, RedeemResult, SessionRow } from './types.js';
import { num, toCode, toSession } from './rows.js';

function sameHash(storedHex: string, given: Buffer): boolean {
  const stored = Buffer.from(storedHex, 'hex');
  return stored.length === given.length && timingSafeEqual(stored, given);
}

export async function redeemCode(db: Kysely<Schema>, id: string, secretHash: Buffer, now: Date, place?: RedeemPlace): Promise<RedeemResult> {
  const at = now.getTime();
  let update = db.updateTable('codes').set({ redeemed_at: at })
    .where('id', '=', id).where('secret_hash', '=', secretHash.toString('hex'))
    .where('redeemed_at', 'is', null).where('expires_at', '>', at);
  // The place is part of the one statement, so a code shown at the wrong place is never spent.
  if (place !== undefined) update = update.where('role', '=', place.role).where('site', '=', place.site);
  const won = await update.returningAll().executeTakeFirst();
  if (won !== undefined) return { ok: true, code: toCode(won) };
  const row = await db.selectFrom('codes').selectAll().where('id', '=', id).executeTakeFirst();
  if (row === undefined) return { ok: false, why: 'unknown' };
  if (!sameHash(row.secret_hash, secretHash)) return { ok: false, why: 'secret' };
  if (row.redeemed_at !== null) return { ok: false, why: 'used' };
  if (num(row.expires_at) <= at) return { ok: false, why: 'expired' };
  if (place !== undefined && (row.role !== place.role || row.site !== place.site)) return { ok: false, why: 'scope', code: toCode(row) };
  return { ok: false, why: 'used' }; // redeemed between the two statements
}

/** The session a ticket opens, once, at the site it was issued for, before it expires; otherwise undefined. */
export async function claimTicket(db: Kysely<Schema>, id: string, secretHash: Buffer, targetSite: string, now: Date): Promise<SessionRow | undefined> {
  const at = now.getTime();
  const won = await db.updateTable('sessions').set({ claimed_at: at })
    .where('id', '=', id).where('secret_hash', '=', secretHash.toString('hex')).where('target_site', '=', targetSite)
    .where('claimed_at', 'is', null).where('expires_at', '>', at)
    .returningAll().executeTakeFirst();
  return won && toSession(won);
}
