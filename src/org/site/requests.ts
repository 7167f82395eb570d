// The site gateway's requests on insel/1, looked at before the forward
// protocol's (gateway/extension.ts): relays by service name, their FTP data
// connections, LAN listeners for a service (hosted SAux-C), the user's
// list of services and the renewal of the user's certificate (both asked of
// HQ for the user this session authenticated). Anything else (CONNECT
// host:port, -R, info, crl, ca) is today's gateway's.
import { holding, refuse, type GatewayContext } from '../../gateway/forward-requests.js';
import type { GatewaySession } from '../../gateway/session.js';
import { PATH_LISTEN, requestKind } from '../../forward/protocol.js';
import type { MuxHeaders, MuxStream } from '../../mux/index.js';
import type { SiteContext } from './context.js';
import { hostedListen } from './hosted.js';
import { hqRefusal } from './hq-refusal.js';
import { H_CSR, H_SERVICE, H_TICKET, PATH_RENEW, PATH_SERVICES } from './protocol.js';
import type { OrgUser } from '../wire/hq-api.js';
import { OrgRefusedError } from '../wire/errors.js';
import { relayIn } from './relay-in.js';
import { relayOut } from './relay-out.js';
import { isRelayedFtp, relayFtp } from './relay-ftp.js';

/** Takes the request if it is the site's; false leaves it to the forward protocol. */
export function siteRequest(site: SiteContext, ctx: GatewayContext, session: GatewaySession, stream: MuxStream, headers: MuxHeaders): boolean {
  const kind = requestKind(headers);
  if (kind === 'CONNECT' && headers[H_SERVICE] !== undefined) {
    const inbound = headers[H_TICKET] !== undefined;
    holding(ctx, session, 'streams', stream, { to: headers[H_SERVICE], kind: inbound ? 'relay-in' : 'relay' }, () =>
      inbound ? relayIn(site, ctx, session, stream, headers) : relayOut(site, ctx, session, stream, headers),
    );
    return true;
  }
  if (isRelayedFtp(session, headers)) {
    holding(ctx, session, 'streams', stream, { to: headers[':authority'] ?? 'ftp active', kind: 'ftp-data' }, () => relayFtp(site, session, stream, headers));
    return true;
  }
  if (kind === `POST ${PATH_LISTEN}` && headers[H_SERVICE] !== undefined) {
    hostedListen(site, ctx, session, stream, headers);
    return true;
  }
  if (kind === `GET ${PATH_SERVICES}`) {
    void askHqForUser(site, session, stream, 'lists services', async (user) => ({ services: await site.hq.services(user) }));
    return true;
  }
  if (kind === `POST ${PATH_RENEW}`) {
    void askHqForUser(site, session, stream, 'renews certificates', (user) => renewUser(site, user, headers[H_CSR]));
    return true;
  }
  return false;
}

/** A request only a user of this site may make (`what` it does), answered with HQ's answer for that user as JSON; HQ's refusals keep their code. */
async function askHqForUser(site: SiteContext, session: GatewaySession, stream: MuxStream, what: string, ask: (user: OrgUser) => Promise<object>): Promise<void> {
  const user = session.identity;
  if (user.role !== 'user' || user.issuer !== undefined || user.site !== site.name) {
    return refuse(stream, 403, 'INSEL_ORG_NOT_YOUR_SITE', `site ${site.name} ${what} for its own users only`);
  }
  const release = site.waitOnHq();
  if (release === undefined) return refuse(stream, 503, 'INSEL_LIMIT', `site ${site.name} has too many requests waiting for HQ; try again shortly`);
  try {
    const answer = await ask({ name: user.name, site: site.name, groups: user.groups, serial: user.serial });
    if (stream.destroyed) return;
    stream.respond({ ':status': '200', 'content-type': 'application/json' });
    stream.end(JSON.stringify(answer));
  } catch (err) {
    const r = hqRefusal(err);
    refuse(stream, r.status, r.code, r.reason);
  } finally {
    release();
  }
}

async function renewUser(site: SiteContext, user: OrgUser, csr: string | undefined): Promise<{ cert: string; ca: string }> {
  if (csr === undefined || csr === '') throw new OrgRefusedError('INSEL_PKI_BAD_CSR', `a renewal carries the CSR of the new key in ${H_CSR}`);
  if (site.hq.renewUser === undefined) throw new OrgRefusedError('INSEL_ORG_FORBIDDEN', `site ${site.name}'s link to HQ cannot renew certificates`);
  const { cert, ca } = await site.hq.renewUser(user, csr);
  site.log.info({ user: user.name, previous: user.serial }, 'user certificate renewed by HQ');
  return { cert, ca };
}
