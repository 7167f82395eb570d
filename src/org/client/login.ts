// `insel login --site HOST:PORT --code C`: the user's key is made here and
// never leaves; the code and a CSR go to the user's site gateway
// (insel-enroll/1), which forwards them to HQ. The code pins the org's root,
// so only a gateway of this organization gets it. Writes the profile
// (cert.pem, key.pem 0600, ca.pem) and site.json.
import { enrollWithCode } from '../enroll/client.js';
import { formatHostPort, type HostPort } from '../../net/host-port.js';
import type { Identity } from '../../pki/identity.js';
import { writeSiteJson } from './profile.js';

export async function login(o: { site: HostPort; code: string; dir: string; force?: boolean }): Promise<Identity> {
  const r = await enrollWithCode({ server: o.site, code: o.code, dir: o.dir, role: 'user', serverRoles: ['site'], force: o.force === true });
  writeSiteJson(o.dir, { site: r.identity.site ?? '', gateway: formatHostPort(o.site.host, o.site.port) });
  return r.identity;
}
