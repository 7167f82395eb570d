// What a site gateway asks HQ over insel-org/1 (docs/PROTOCOL.md §7), as the
// site's code sees it. The HQ link (hq-link.ts) implements it over the wire;
// refusals are thrown as OrgRefusedError with HQ's code and reason.
export interface OrgUser {
  name: string;
  site: string;
  groups: string[];
  /** the serial of the certificate the user's site saw */
  serial: string;
}

export interface SiteAddress {
  name: string;
  /** host:port other sites dial (its insel/1 TLS port) */
  public: string;
  /** host:port of its SecSockets UDP port, if it serves UDP */
  udp?: string;
}

export interface PublishedService {
  name: string;
  proto: 'tcp' | 'udp';
  groups: string[];
}

export interface Authorization {
  /** single-use, bound to the target site, valid 30 s: "<id>.<secret>" */
  ticket: string;
  site: SiteAddress;
  service: { name: string; proto: 'tcp' | 'udp' };
}

export interface TicketInfo {
  user: OrgUser;
  service: string;
  fromSite: string;
}

export interface ServiceInfo extends PublishedService {
  site: string;
  /** whether the site is online (heartbeat seen) */
  online: boolean;
}

/** Pushed by HQ to every subscribed gateway. */
export type OrgEventMessage =
  | { kind: 'revoked'; serials: string[]; names: { role: string; name: string }[]; crl: string; reason: string }
  | { kind: 'trust'; ca: string }
  | { kind: 'services' }
  | { kind: 'call'; callId: string; from: string; to: string; fromSite: string; service: string };

export interface HqApi {
  register(r: { site: string; public: string; udp?: string; services: PublishedService[] }): Promise<{ crl: string; ca: string; heartbeatMs: number }>;
  heartbeat(): Promise<void>;
  authorize(user: OrgUser, service: string): Promise<Authorization>;
  ticket(ticket: string): Promise<TicketInfo>;
  sessionEnd(ticket: string, bytesIn: number, bytesOut: number): Promise<void>;
  services(user: OrgUser): Promise<ServiceInfo[]>;
  userCode(name: string, groups: string[], ttlS: number): Promise<{ code: string; expiresAt: string }>;
  /** a user's enrollment, forwarded by the site it enrolls at */
  redeem(code: string, csr: string): Promise<{ cert: string; ca: string }>;
  /** `renew-user`: a new certificate for `user` (who the site saw on its session) and the key in `csr`; absent: users cannot renew here */
  renewUser?(user: OrgUser, csr: string): Promise<{ cert: string; ca: string }>;
  onEvent(fn: (e: OrgEventMessage) => void): () => void;
  /** `call {from, to}`: rings `to` ("name@site") for `from`, a user of this site (docs/PROTOCOL.md §7.4); absent: no calls */
  callUser?(from: OrgUser, to: string): Promise<{ callId: string; expiresAt: string }>;
}
