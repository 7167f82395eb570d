// Refreshing a client's CRLs from a bundle a gateway hands out (PROTOCOL
// §5, GET /insel/v1/crl). The gateway only relays what `insel pki crl`
// wrote, so it can neither forge nor roll back a CRL:
//
//   - every CRL in the bundle must be signed by a trusted root, or by a site
//     CA whose certificate is in the bundle, was signed by that root and is
//     not revoked by it (a stolen, revoked site key cannot empty its CRL);
//     one CRL that is not refuses the whole bundle (nothing is stored);
//   - a CRL of a root generation this end does not trust (yet) is skipped: a
//     CA rollover (rollover.ts) puts the new root's CRL in the bundle before
//     every end holds the new ca.pem, and such a CRL cannot count anyway
//     (a certificate is revoked only by a CRL of its trusted issuer);
//   - per issuer, the CRL with the later thisUpdate wins;
//   - nothing the client holds is dropped, so leaving a CRL out hides nothing.
//
// Pure: PEM in, PEM out; the caller fetches and stores.
import { parseCert, quote, type ParsedCert } from './chain.js';
import { ROOT_CN } from './certgen.js';
import { PkiError } from './errors.js';
import { decodePem, encodePem } from './pem.js';
import { isSignedBy } from './signature.js';
import { revocationOf, trustFromPem, type Trust, type TrustedCrl } from './trust.js';

export interface CrlMerge {
  /** the bundle to hold from now on: each site CA certificate before its CRL */
  pem: string;
  /** issuers (DN) whose CRL the bundle made newer; empty: nothing to store */
  updated: string[];
}

interface Entry {
  crl: TrustedCrl;
  /** the site CA certificate that signed it, if known */
  ca?: ParsedCert;
}

/** Merges `fetchedPem` (from `source`, e.g. "gateway gw:4433") into `heldPem`. Throws PkiError INSEL_CRL_UNTRUSTED or INSEL_PKI_BAD_FILE. */
export function mergeCrls(trust: Trust, heldPem: string | undefined, fetchedPem: string, source: string): CrlMerge {
  const offered = trustFromPem(trust.caPem, fetchedPem, { crl: `the CRL bundle from ${source}` });
  const fetched = offered.crls;
  if (fetched.length === 0) throw new PkiError('INSEL_PKI_BAD_FILE', `the CRL bundle from ${source} contains no CRL`);
  const siteCas = decodePem(fetchedPem, 'CERTIFICATE', `the CRL bundle from ${source}`)
    .map(parseCert)
    .filter((c): c is ParsedCert => c !== undefined && isSiteCaOf(c, [trust, offered]));

  const held = new Map<string, Entry>();
  if (heldPem !== undefined && heldPem.trim() !== '') {
    const heldCas = decodePem(heldPem, 'CERTIFICATE', trust.sources.crl ?? 'CRL').map(parseCert);
    for (const crl of trustFromPem(trust.caPem, heldPem, trust.sources).crls) {
      const ca = heldCas.find((c) => c?.subject.equals(crl.issuer));
      keepNewer(held, { crl, ...(ca ? { ca } : {}) });
    }
  }
  const updated: string[] = [];
  fetched.forEach((crl, i) => {
    if (isUntrustedRootGeneration(crl, trust)) return;
    const ca = signerOf(crl, trust, siteCas);
    if (ca === undefined) {
      throw new PkiError(
        'INSEL_CRL_UNTRUSTED',
        `CRL ${i + 1} from ${source} (issuer ${quote(crl.crl.issuer)}) is signed neither by our root CA nor by a site CA it certified: refused, nothing stored; the gateway's crl.pem is damaged or not from our PKI (re-export it with insel pki export)`,
        { peer: source },
      );
    }
    if (keepNewer(held, { crl, ...(ca === 'root' ? {} : { ca }) })) updated.push(crl.crl.issuer);
  });
  const pem = [...held.values()].map((e) => (e.ca ? encodePem(new Uint8Array(e.ca.cert.rawData), 'CERTIFICATE') : '') + encodePem(new Uint8Array(e.crl.crl.rawData), 'X509 CRL')).join('');
  return { pem, updated };
}

/** Puts `e` in place of the CRL of the same issuer if it is newer (or the first); true if it did. */
function keepNewer(byIssuer: Map<string, Entry>, e: Entry): boolean {
  const key = e.crl.issuer.toString('hex');
  const old = byIssuer.get(key);
  if (old && old.crl.crl.thisUpdate.getTime() >= e.crl.crl.thisUpdate.getTime()) return false;
  byIssuer.set(key, e);
  return true;
}

const ROOT_NAME = new RegExp(`^${ROOT_CN}( [0-9]{1,6})?$`);

/** A CRL named like another root generation of one of our orgs (CN=insel root CA <n>), whose name no trusted root has. */
function isUntrustedRootGeneration(crl: TrustedCrl, trust: Trust): boolean {
  if (trust.roots.some((r) => r.subject.equals(crl.issuer))) return false;
  const name = crl.crl.issuerName;
  const cn = name.getField('CN');
  const o = name.getField('O');
  return cn.length === 1 && ROOT_NAME.test(cn[0] as string) && o.length === 1 && trust.roots.some((r) => r.org === o[0]);
}

/** 'root' if a trusted root signed `crl`, the site CA that did, or undefined. */
function signerOf(crl: TrustedCrl, trust: Trust, siteCas: readonly ParsedCert[]): 'root' | ParsedCert | undefined {
  if (trust.roots.some((r) => r.subject.equals(crl.issuer) && isSignedBy(crl.crl, r.key))) return 'root';
  return siteCas.find((c) => c.subject.equals(crl.issuer) && isSignedBy(crl.crl, c.key!));
}

/** A site CA certificate issued by one of our roots, for our org, and revoked by no root CRL in `crlSets`. */
function isSiteCaOf(c: ParsedCert, crlSets: readonly [Trust, Trust]): boolean {
  if (!c.isCa || !c.mayCertSign || c.key === undefined || c.identity?.role !== 'site') return false;
  const root = crlSets[0].roots.find((r) => r.subject.equals(c.issuer) && r.org === c.identity?.org && isSignedBy(c.cert, r.key));
  return root !== undefined && crlSets.every((t) => revocationOf(t, root, c.serial) === undefined);
}
