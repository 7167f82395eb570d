// What a site gateway adds to insel/1 (docs/PROTOCOL.md §7.3, §7.6): a CONNECT naming
// an organization service instead of host:port, from a user to its own site
// ("svc@site") and from that site to the service's site ("svc" with HQ's
// ticket), the user's list of services, and the renewal of the user's
// certificate.

/** CONNECT request: the service, "svc@site" from a user, "svc" from a site (then with insel-ticket). */
export const H_SERVICE = 'insel-service';
/** CONNECT request between sites: HQ's single-use ticket, the only source of who the user is. */
export const H_TICKET = 'insel-ticket';
/** POST /insel/v1/listen with insel-service: the site gateway listens on the LAN for the service (hosted SAux-C). */
export const PATH_SERVICES = '/insel/v1/services';
/** POST with insel-csr: a new certificate for the user of this session (HQ's `renew-user`); 200 JSON {cert, ca} */
export const PATH_RENEW = '/insel/v1/renew';
/** POST /insel/v1/renew: the CSR (PEM) of the user's new key; a header, so the site reads no body before asking HQ */
export const H_CSR = 'insel-csr';
