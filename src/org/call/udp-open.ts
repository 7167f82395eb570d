// `insel open svc@site` of a UDP service (docs/PROTOCOL.md §7.4): the
// service's proto comes from the user's services list; a udp one gets a
// local UDP port whose flows go to the service through the user's site
// gateway (OPEN_SERVICE), instead of a TCP listener.
import type { OpenService } from '../client/open.js';
import type { UserProfile } from '../client/profile.js';
import { openSiteSession } from '../client/session.js';
import { listServices } from '../client/services.js';
import { openUdp } from './client.js';

/** Whether `service` ("svc@site") is a UDP service the user may use. */
export async function isUdpService(profile: UserProfile, service: string, warn: (line: string) => void): Promise<boolean> {
  return (await listServices(profile, warn)).some((s) => `${s.name}@${s.site}` === service && s.proto === 'udp');
}

export async function openUdpService(o: { profile: UserProfile; service: string; bind: string; port: number; warn(line: string): void; verbose?(line: string): void }): Promise<OpenService> {
  const session = await openSiteSession(o.profile, o.warn);
  try {
    const fwd = await openUdp({
      session,
      via: o.profile.gateway,
      site: o.profile.site,
      identity: o.profile.identity,
      service: o.service,
      bind: o.bind,
      port: o.port,
      log: (line) => (/denied|refused|lost|closed/.test(line) ? o.warn : (o.verbose ?? (() => undefined)))(line),
    });
    return { host: o.bind, port: fwd.port, close: () => fwd.close().finally(() => session.close()) };
  } catch (err) {
    session.close();
    throw err;
  }
}
