// Errors of the PKI. Two families, told apart by class and by stable code:
// - CertError: a peer's certificate was refused. Every TLS end maps a refusal
//   to exactly one of these codes, and the message says plainly which it was
//   and whose certificate it was, so an operator can act on one log line.
// - PkiError: a PKI file or directory is missing, exists already, is
//   malformed, or is locked by another command. The message names the file
//   and what to do about it.
import { InselError, type ErrorContext } from '../errors.js';

export type CertErrorCode =
  | 'INSEL_CERT_MISSING'
  | 'INSEL_CERT_UNKNOWN_CA'
  | 'INSEL_CERT_EXPIRED'
  | 'INSEL_CERT_NOT_YET_VALID'
  | 'INSEL_CERT_REVOKED'
  | 'INSEL_CERT_WRONG_ROLE'
  /** a server's certificate does not carry the name the client asked for */
  | 'INSEL_CERT_WRONG_NAME'
  | 'INSEL_CERT_INVALID';

export class CertError extends InselError {
  declare readonly code: CertErrorCode;

  constructor(code: CertErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}

export type PkiErrorCode =
  /** a file would be overwritten and --force was not given */
  | 'INSEL_PKI_EXISTS'
  /** a file, certificate or CA the operation needs does not exist */
  | 'INSEL_PKI_NOT_FOUND'
  /** a file exists but its content is malformed or fails a signature check */
  | 'INSEL_PKI_BAD_FILE'
  /** a certificate signing request (from a peer) is oversized, malformed, of the wrong key kind or not self-signed */
  | 'INSEL_PKI_BAD_CSR'
  /** another insel pki command holds the directory's lock */
  | 'INSEL_PKI_LOCKED'
  /** the CRL a client holds is past its nextUpdate */
  | 'INSEL_CRL_STALE'
  /** a CRL offered as a refresh is not signed by a trusted CA */
  | 'INSEL_CRL_UNTRUSTED'
  /** a trust bundle offered as a refresh shares no root with ours, or holds another org's root */
  | 'INSEL_CA_UNTRUSTED';

export class PkiError extends InselError {
  declare readonly code: PkiErrorCode;

  constructor(code: PkiErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}
