// insel-enroll/1 at a site gateway: a user enrolling with a code (insel
// login) reaches its site, not HQ; the site forwards the code and CSR to HQ
// over its insel-org/1 link (`redeem`) and hands back HQ's answer. HQ checks
// the code, its scope (a user of THIS site) and the CSR; the site adds
// nothing to the identity. One request per connection, served under the
// gateway's unauthenticated gate (its deadline and caps), as at HQ.
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../gateway/conn-log.js';
import type { ConnectionHandler } from '../../gateway/gateway.js';
import { ALPN_ENROLL } from '../wire/constants.js';
import { OrgServerConnection } from '../wire/connection.js';
import { OrgRefusedError } from '../wire/errors.js';
import type { HqApi } from '../wire/hq-api.js';
import { ENROLL_REQUESTS, requestsSchema } from '../wire/messages.js';

const enrollSchema = requestsSchema(ENROLL_REQUESTS);

export function enrollForwarder(hq: HqApi, log: Logger): [string, ConnectionHandler] {
  return [ALPN_ENROLL, (socket: TLSSocket) => serve(socket, hq, log)];
}

function serve(socket: TLSSocket, hq: HqApi, log: Logger): void {
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  let served = false;
  const conn = new OrgServerConnection(
    socket,
    { peer },
    enrollSchema,
    async (req) => {
      if (served) throw new OrgRefusedError('INSEL_ORG_BAD_REQUEST', 'one enrollment per connection');
      served = true;
      try {
        const { cert, ca } = await hq.redeem(req.code, req.csr);
        log.info({ from: peer }, 'enrollment forwarded to HQ');
        return { cert, ca };
      } catch (err) {
        log.warn({ from: peer, code: (err as { code?: string }).code, reason: (err as Error).message }, 'enrollment refused');
        throw err instanceof OrgRefusedError ? err : new OrgRefusedError('INSEL_HQ_UNAVAILABLE', (err as Error).message);
      } finally {
        setImmediate(() => conn.close('INSEL_ORG_BYE', 'enrollment done'));
      }
    },
    (err) => log.error({ from: peer, reason: (err as Error).message }, 'enrollment failed'),
  );
}
