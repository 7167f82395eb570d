// What an organization's site gateway (src/org/site) adds to the gateway: it
// is today's gateway grown into an org member, not a second one. Two named
// hooks, all optional: more ALPN protocols on the TLS port (enrollment,
// served without a client certificate), and requests of a verified insel/1
// session looked at before the forward protocol's own (service relays).
import type { MuxHeaders, MuxStream } from '../mux/index.js';
import type { ServiceOpener } from '../udpflow/target.js';
import type { ConnectionHandler } from './gateway.js';
import type { GatewayContext } from './forward-requests.js';
import type { GatewaySession } from './session.js';

export interface GatewayExtension {
  /** [ALPN name, handler] pairs, offered after insel/1 and http/1.1 */
  protocols?: [string, ConnectionHandler][];
  /**
   * Of those, the names served without a client certificate (enrollment):
   * such a connection is not verified, stays under the unauthenticated gate
   * (its deadline and caps) and gets a verdict with no identity.
   */
  open?: string[];
  /** Returns true if it took the request (it then answers it); false leaves it to the forward protocol. */
  request?(ctx: GatewayContext, session: GatewaySession, stream: MuxStream, headers: MuxHeaders): boolean;
  /** UDP flows that name a service or call (OPEN_SERVICE, org/site/udp-site.ts); without it they are denied */
  udpService?: ServiceOpener;
}
