// The groups a site CA may grant: the root writes them into the site
// certificate, in one non-critical X.509 extension (docs/PROTOCOL.md §1):
//
//   extnID    GRANTS_OID
//   extnValue SEQUENCE OF UTF8String   -- group names, in the order given
//
// A site certificate without it grants no groups. Only the root signs site
// certificates, so a site cannot widen its own grants.
import type { X509Certificate } from '@peculiar/x509';
import { isValidName } from './identity.js';
import { toArrayBuffer, x509 } from './x509.js';

/** 2.25.<uuid bf9d8d58-f591-4540-8034-f601cef2dbcc as a decimal>: an OID nobody else uses (X.667). */
export const GRANTS_OID = '2.25.254700604669540764486288802245638282188';

const SEQUENCE = 0x30;
const UTF8_STRING = 0x0c;

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>>= 8) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function tlv(tag: number, body: Uint8Array): Uint8Array {
  return Uint8Array.from([tag, ...derLength(body.length), ...body]);
}

/** DER of SEQUENCE OF UTF8String. */
export function encodeGrants(groups: readonly string[]): Uint8Array {
  const items = groups.map((g) => tlv(UTF8_STRING, Buffer.from(g, 'utf8')));
  return tlv(SEQUENCE, Buffer.concat(items));
}

/** Reads one TLV at `at`: its tag, body bounds and end, or undefined if malformed (DER: minimal lengths). */
function readTlv(der: Uint8Array, at: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > der.length) return undefined;
  const tag = der[at] as number;
  let len = der[at + 1] as number;
  let start = at + 2;
  if (len >= 0x80) {
    const count = len & 0x7f;
    if (count < 1 || count > 3 || start + count > der.length) return undefined;
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + (der[start + i] as number);
    if (len < 0x80 || (der[start] as number) === 0) return undefined;
    start += count;
  }
  const end = start + len;
  return end <= der.length ? { tag, start, end } : undefined;
}

/** The group names in DER SEQUENCE OF UTF8String, or undefined if it is malformed or names an invalid group. Never throws. */
export function decodeGrants(der: Uint8Array): string[] | undefined {
  const seq = readTlv(der, 0);
  if (!seq || seq.tag !== SEQUENCE || seq.end !== der.length) return undefined;
  const groups: string[] = [];
  for (let at = seq.start; at < seq.end; ) {
    const item = readTlv(der, at);
    if (!item || item.tag !== UTF8_STRING || item.end > seq.end) return undefined;
    const name = Buffer.from(der.subarray(item.start, item.end)).toString('utf8');
    if (!isValidName(name)) return undefined;
    groups.push(name);
    at = item.end;
  }
  return groups;
}

export function grantsExtension(groups: readonly string[]): x509.Extension {
  return new x509.Extension(GRANTS_OID, false, toArrayBuffer(encodeGrants(groups)));
}

/** The groups `cert` may grant: [] without the extension, undefined if it is malformed or repeated. Never throws. */
export function grantsOf(cert: X509Certificate): string[] | undefined {
  const found = cert.extensions.filter((e) => e.type === GRANTS_OID);
  if (found.length === 0) return [];
  if (found.length > 1) return undefined;
  return decodeGrants(new Uint8Array((found[0] as x509.Extension).value));
}

/** The first of `groups` a site CA with `grants` may not grant (any, if its grants are unreadable). */
export function ungrantedGroup(groups: readonly string[], grants: readonly string[] | undefined): string | undefined {
  return groups.find((g) => grants === undefined || !grants.includes(g));
}

/** Why site CA `site` may not grant `group`, and the fix: for verify's refusal and `insel pki issue --ca`'s. */
export function ungrantedText(group: string, site: string, grants: readonly string[] | undefined): string {
  const may = grants === undefined ? 'its group grants extension is malformed' : grants.length === 0 ? 'it may grant no groups' : `it may grant only ${grants.join(', ')}`;
  return `site CA ${site} may not grant group ${group} (${may}); issue the certificate from the root CA (without --ca), or let the site grant the group: insel pki issue --role site --name ${site} --grant ${group} --force`;
}
