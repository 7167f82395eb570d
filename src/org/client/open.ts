// `insel open svc@site`: SAux-C on the user's machine: a local listener
// whose every connection is one relay stream through the user's site
// gateway (CONNECT with insel-service). With --ftp the control connection
// runs through the FTP relay and its passive data connections through the
// same site path (forward/ftp-hooks.ts, relayed by the site gateways).
// Open access: nothing here touches routes or DNS.
import { Forwarder } from '../../forward/forwarder.js';
import { UsageError } from '../../errors.js';
import { formatHostPort } from '../../net/host-port.js';
import { parseServiceName } from '../site/service-rules.js';
import { H_SERVICE } from '../site/protocol.js';
import type { UserProfile } from './profile.js';
import { siteGatewayOptions } from './session.js';

export interface OpenOptions {
  profile: UserProfile;
  /** "svc@site" */
  service: string;
  bind: string;
  /** 0: a free port */
  port: number;
  ftp?: boolean;
  warn(line: string): void;
  verbose?(line: string): void;
}

export interface OpenService {
  host: string;
  port: number;
  close(): Promise<void>;
}

export function checkService(text: string): string {
  if (parseServiceName(text) === undefined) throw new UsageError(`${JSON.stringify(text)} is not a service: use svc@site, e.g. web@branch (insel services lists yours)`);
  return text;
}

export async function openService(o: OpenOptions): Promise<OpenService> {
  checkService(o.service);
  const f = await Forwarder.start({
    ...siteGatewayOptions(o.profile),
    forwards: [{ kind: 'L', bind: o.bind, port: o.port, host: o.service, hostPort: 0, text: o.service, request: { ':method': 'CONNECT', [H_SERVICE]: o.service }, ftp: o.ftp === true }],
    persistent: false,
    info: o.verbose ?? (() => undefined),
    warn: o.warn,
    ...(o.verbose === undefined ? {} : { verbose: o.verbose }),
  });
  return { host: o.bind, port: f.ports[0]!, close: () => f.close() };
}

export function openLine(service: string, s: OpenService): string {
  return `${service} is at ${formatHostPort(s.host, s.port)}`;
}
