// What a site gateway wires in for UDP services and calls, in one piece:
//   const udp = new SiteUdp({site, hq, identity, service, localCheck, log});
//   UdpGateway({…, openService: udp.openService})     flows that name a service or call
//   extension.request: udp.request(identity, stream, headers)   the call requests (insel/1)
//   hq.onEvent(udp.onEvent)                            invitations; revocations cut relays
//   udp.close()                                        at shutdown
import type { MuxHeaders, MuxStream } from '../../mux/index.js';
import type { Identity } from '../../pki/identity.js';
import type { IdentityPem } from '../../pki/profile.js';
import type { FlowLog } from '../../udpflow/gateway.js';
import type { ServiceOpener } from '../../udpflow/target.js';
import { SiteCalls } from '../call/site-calls.js';
import { callRequest } from '../call/site-requests.js';
import type { HqApi, OrgEventMessage } from '../wire/hq-api.js';
import { UdpPeers } from './udp-peers.js';
import { UdpRelay, type LocalService } from './udp-relay.js';

export interface SiteUdpOptions {
  site: string;
  hq: HqApi;
  /** the site's identity as it is now (renewals and CRL updates swap it) */
  identity: () => IdentityPem;
  service(name: string): LocalService | undefined;
  localCheck(user: Identity, service: string, site: string): string | undefined;
  log: FlowLog;
  maxFlowsPerUser?: number;
}

export class SiteUdp {
  readonly calls: SiteCalls;
  readonly relay: UdpRelay;
  private readonly peers: UdpPeers;

  constructor(o: SiteUdpOptions) {
    this.peers = new UdpPeers({ identity: o.identity });
    this.calls = new SiteCalls({ site: o.site, hq: o.hq, log: o.log });
    this.relay = new UdpRelay({
      site: o.site,
      hq: o.hq,
      peers: this.peers,
      calls: this.calls,
      service: o.service,
      localCheck: o.localCheck,
      log: o.log,
      ...(o.maxFlowsPerUser === undefined ? {} : { maxFlowsPerUser: o.maxFlowsPerUser }),
    });
  }

  /** For the UdpGateway. */
  get openService(): ServiceOpener {
    return this.relay.openService;
  }

  /** A call request of a verified user session; false if it is not one. */
  request(identity: Identity, stream: MuxStream, headers: MuxHeaders): boolean {
    return callRequest(this.calls, identity, stream, headers);
  }

  /** HQ's events: call invitations; a revoked user's relays end with the reason. */
  readonly onEvent = (e: OrgEventMessage): void => {
    if (e.kind === 'call') return this.calls.onEvent(e);
    if (e.kind !== 'revoked') return;
    for (const n of e.names) if (n.role === 'user') this.relay.cutUser(n.name, `revoked: ${e.reason}`);
  };

  async close(): Promise<void> {
    this.calls.close();
    await this.peers.close();
  }
}
