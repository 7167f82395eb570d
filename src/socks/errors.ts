// Typed errors of the SOCKS5 codec (RFC 1928/1929). `code` is stable; `reply`
// is the SOCKS reply code the server should answer with, so the server maps
// a parse failure to the wire without knowing why it failed.
import { InselError, type ErrorContext } from '../errors.js';

export type SocksErrorCode =
  /** the client speaks another SOCKS version (4, or HTTP to a SOCKS port) */
  | 'INSEL_SOCKS_VERSION'
  /** a greeting that offers no method */
  | 'INSEL_SOCKS_GREETING'
  /** a malformed RFC 1929 username/password message */
  | 'INSEL_SOCKS_AUTH'
  /** a malformed request (reserved byte not 0) */
  | 'INSEL_SOCKS_REQUEST'
  /** an address of an unknown type, or a domain that is empty or not printable ASCII */
  | 'INSEL_SOCKS_ADDRESS'
  /** a malformed UDP request header (short, reserved bytes not 0, bad address) */
  | 'INSEL_SOCKS_UDP';

/** RFC 1928 §6 reply codes. Defined here, beside the error that carries one, so that address.ts needs no import
 *  of messages.ts (which re-exports it); `Reply` is the public name. */
export const Reply = {
  SUCCEEDED: 0,
  GENERAL_FAILURE: 1,
  NOT_ALLOWED: 2,
  NETWORK_UNREACHABLE: 3,
  HOST_UNREACHABLE: 4,
  CONNECTION_REFUSED: 5,
  TTL_EXPIRED: 6,
  COMMAND_NOT_SUPPORTED: 7,
  ADDRESS_TYPE_NOT_SUPPORTED: 8,
} as const;

export class SocksError extends InselError {
  declare readonly code: SocksErrorCode;
  /** The reply code to send (messages.ts Reply), or undefined where no reply is possible (before the request, UDP). */
  readonly reply: number | undefined;

  constructor(code: SocksErrorCode, message: string, reply?: number, ctx: ErrorContext = {}) {
    super(code, message, ctx);
    this.reply = reply;
  }
}
