// The index as a table: one row per certificate ever issued, with its
// status now. A certificate of a site CA that is revoked or expired (and not
// renewed with the same key) is shown as such, and one that chains to a
// retired root CA (rollover.ts) as retired: verify refuses them too.
import { isLiveCa } from './ca.js';
import type { Role } from './identity.js';
import { pkiPaths, readIndex, type IndexRecord } from './store.js';

export type CertStatus = 'valid' | 'revoked' | 'expired' | 'retired';

export interface CertRow {
  name: string;
  role: Role;
  site?: string;
  groups: string[];
  /** a site CA's: the groups it may grant */
  grants?: string[];
  serial: string;
  notBefore: string;
  notAfter: string;
  issuer: string;
  status: CertStatus;
  /** why it is revoked or expired when the cause is its site CA */
  note?: string;
  revoked?: { at: string; reason: string };
}

export function listCerts(opts: { dir: string; now?: Date }): CertRow[] {
  const index = readIndex(pkiPaths(opts.dir));
  const now = opts.now ?? new Date();
  const bySerial = new Map(index.certs.map((r) => [r.serial, r]));
  const retired = new Map((index.roots ?? []).filter((x) => x.retired !== undefined).map((x) => [x.serial, x.generation]));
  const status = (r: IndexRecord): { status: CertStatus; note?: string } => {
    if (r.revoked) return { status: 'revoked' };
    if (Date.parse(r.notAfter) < now.getTime()) return { status: 'expired' };
    const rootSerial = r.issuer === 'root' ? r.issuerSerial : bySerial.get(r.issuerSerial)?.issuerSerial;
    const gone = retired.get(rootSerial ?? '');
    if (gone !== undefined) return { status: 'retired', note: `root CA ${gone} is retired` };
    if (r.issuer === 'root') return { status: 'valid' };
    const keyId = bySerial.get(r.issuerSerial)?.keyId;
    const cas = index.certs.filter((c) => c.role === 'site' && c.keyId === keyId);
    if (cas.some((c) => isLiveCa(c, now))) return { status: 'valid' };
    return cas.some((c) => c.revoked)
      ? { status: 'revoked', note: `site CA ${r.issuer} is revoked` }
      : { status: 'expired', note: `site CA ${r.issuer} has expired` };
  };
  return index.certs.map((r) => ({ ...r, ...status(r) }));
}
