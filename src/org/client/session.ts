// The user's session with its own site gateway: role site, the name in
// site.json, the CRL and the trust bundle refreshed from it kept in the
// profile (the bundle is how a CA rollover reaches the user).
import { ForwardSession } from '../../forward/session.js';
import type { ForwarderOptions } from '../../forward/forwarder.js';
import type { UserProfile } from './profile.js';

/** The gateway part of Forwarder options for the user's site. */
export function siteGatewayOptions(p: UserProfile): Pick<ForwarderOptions, 'via' | 'identity' | 'gatewayName' | 'gatewayRoles' | 'crlFile' | 'caFile'> {
  return { via: p.gateway, identity: p.identity, gatewayName: p.site, gatewayRoles: ['site'], crlFile: p.crlFile, caFile: p.caFile };
}

export function openSiteSession(p: UserProfile, warn: (line: string) => void): Promise<ForwardSession> {
  return ForwardSession.open({ ...siteGatewayOptions(p), warn });
}
