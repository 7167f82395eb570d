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
  return [
    ALPN_ENROLL,
    (socket: TLSSocket) =>
      serveEnrollOnce(socket, log, async (code, csr, peer) => {
        try {
          const answer = await hq.redeem(code, csr);
          log.info({ from: peer }, 'enrollment forwarded to HQ');
          return answer;
        } catch (err) {
          log.warn({ from: peer, code: (err as { code?: string }).code, reason: (err as Error).message }, 'enrollment refused');
          throw err instanceof OrgRefusedError ? err : new OrgRefusedError('INSEL_HQ_UNAVAILABLE', (err as Error).message);
        }
      }),
  ];
}

/** One insel-enroll/1 request on `socket`, answered by `redeem`; then the connection ends. (HQ's acceptEnroll is the same round.) */
export function serveEnrollOnce(socket: TLSSocket, log: Logger, redeem: (code: string, csr: string, peer: string) => Promise<{ cert: string; ca: string }>): void {
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
        const { cert, ca } = await redeem(req.code, req.csr, peer);
        return { cert, ca };
      } finally {
        setImmediate(() => conn.close('INSEL_ORG_BYE', 'enrollment done'));
      }
    },
    (err) => log.error({ from: peer, reason: (err as Error).message }, 'enrollment failed'),
  );
}
