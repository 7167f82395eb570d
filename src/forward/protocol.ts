// The forward protocol rides the insel/1 multiplexer (src/mux) over the
// TLS 1.3 mTLS session: one session per client, one stream per request.
// A request is a stream OPEN whose headers say what is asked (`:method`,
// `:path` or `:authority`, as in HTTP); the answer is the REPLY's headers
// (`:status`, and on a refusal insel-code and insel-reason). docs/PROTOCOL.md
// §5 has every request and header.

export const PATH_INFO = '/insel/v1/info';
export const PATH_LISTEN = '/insel/v1/listen';
export const PATH_ACCEPT = '/insel/v1/accept';
export const PATH_CRL = '/insel/v1/crl';
/** the gateway's trust bundle (its ca.pem), for clients to follow a CA rollover */
export const PATH_CA = '/insel/v1/ca';

/** Why a request was refused, for the user (UTF-8, at most MAX_REASON characters). */
export const H_REASON = 'insel-reason';
/** The stable error code of a refusal (INSEL_POLICY_DENIED, …). */
export const H_CODE = 'insel-code';
/** INSEL_UNREACHABLE refusals: why the gateway's dial failed (refused, network-unreachable, host-unreachable, timeout, other). */
export const H_CAUSE = 'insel-cause';
/** CONNECT response: the gateway's stream id, referenced by FTP data requests. */
export const H_STREAM = 'insel-stream';
/** CONNECT response: the address the gateway connected to (host:port). */
export const H_TARGET = 'insel-target';
/** CONNECT response: the gateway's own end of that connection; LISTEN response: the bound address. */
export const H_BOUND = 'insel-bound';
/** CONNECT/LISTEN request: "control", "data" or "active" (FTP). */
export const H_FTP = 'insel-ftp';
/** FTP data and active listen: the control connection's stream id. */
export const H_CONTROL = 'insel-control';
/** LISTEN request: [bind:]port at the gateway; for the log, where the client sends them (`insel-to`). */
export const H_BIND = 'insel-bind';
export const H_TO = 'insel-to';
/** ACCEPT request: the pending connection's id; `insel-refuse` says why the client cannot take it. */
export const H_CONN = 'insel-conn';
export const H_REFUSE = 'insel-refuse';

/** Reasons in headers are cut here: a mux header value is at most 64 KiB, a reason a line. */
export const MAX_REASON = 1024;

/** The router key of a request: "CONNECT", or the method and path ("GET /insel/v1/info"). */
export function requestKind(headers: Record<string, string>): string {
  const method = headers[':method'] ?? '';
  return method === 'CONNECT' ? method : `${method} ${headers[':path'] ?? ''}`;
}

/** HTTP/1.1 header values must be printable ASCII; the full reason (UTF-8) is in the body. */
export function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_REASON);
}
