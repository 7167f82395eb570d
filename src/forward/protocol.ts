// The forward protocol is HTTP/2 (RFC 9113) over the TLS 1.3 mTLS session:
// one session per client, one stream per forwarded connection, so flow
// control, multiplexing and stream reset come from a standard we did not
// write. docs/PROTOCOL.md §5 has every request and header.
import { constants } from 'node:http2';

export const PATH_INFO = '/insel/v1/info';
export const PATH_EVENTS = '/insel/v1/events';
export const PATH_LISTEN = '/insel/v1/listen';
export const PATH_ACCEPT = '/insel/v1/accept';
export const PATH_CRL = '/insel/v1/crl';

/** Why a request was refused, for the user: printable ASCII (header rules). */
export const H_REASON = 'insel-reason';
/** The stable error code of a refusal (INSEL_POLICY_DENIED, …). */
export const H_CODE = 'insel-code';
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

/**
 * Per-stream window 1 MiB: one stalled reader holds at most that much at
 * the gateway; the session window bounds all streams together.
 */
export const STREAM_WINDOW = 1 << 20;
export const SESSION_WINDOW = 32 << 20;
/** nghttp2's memory cap per session, in MB (default 10 refuses streams under load). */
export const MAX_SESSION_MEMORY_MB = 128;
export const H2_SETTINGS = { initialWindowSize: STREAM_WINDOW, maxConcurrentStreams: 4096, enablePush: false, maxFrameSize: 64 * 1024 - 1 };

/** A CONNECT stream cut by the gateway (policy reload) is reset with CANCEL; the reason travels on the events stream. */
export const RST_CUT = constants.NGHTTP2_CANCEL;

/** Header values must be printable ASCII; the full reason (UTF-8) is in the body. */
export function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 1024);
}
