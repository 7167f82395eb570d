// Typed errors of the FTP-aware relay. `code` is stable. Parsers throw only
// FtpProtocolError; FtpRefusal is what the relay tells the client (its
// `replyCode`) and the log when it will not pass a command or reply on.
import { InselError, type ErrorContext } from '../errors.js';

/** Bytes on the control connection that break FTP's framing or syntax. */
export class FtpProtocolError extends InselError {
  constructor(
    code: 'INSEL_FTP_LINE_TOO_LONG' | 'INSEL_FTP_REPLY_TOO_LONG' | 'INSEL_FTP_BAD_ARGUMENT' | 'INSEL_FTP_BAD_PASSIVE_REPLY' | 'INSEL_FTP_BAD_PROTOCOL',
    message: string,
    ctx: ErrorContext = {},
  ) {
    super(code, message, ctx);
  }
}

export type FtpRefusalCode =
  | 'INSEL_FTP_BAD_ARGUMENT'
  | 'INSEL_FTP_BAD_PROTOCOL'
  | 'INSEL_FTP_BOUNCE'
  | 'INSEL_FTP_UNSUPPORTED'
  | 'INSEL_FTP_SECURITY'
  | 'INSEL_FTP_AMBIGUOUS'
  | 'INSEL_FTP_BAD_PASSIVE_REPLY'
  | 'INSEL_FTP_NOT_IPV4'
  | 'INSEL_FTP_HOOK_FAILED'
  | 'INSEL_FTP_LINE_TOO_LONG'
  | 'INSEL_FTP_REPLY_TOO_LONG'
  | 'INSEL_FTP_PIPELINE_FULL'
  | 'INSEL_FTP_INTERNAL';

/**
 * A command or reply the relay would not pass on. `message` becomes the text
 * of the FTP reply, so it is one line and addressed to the user.
 */
export class FtpRefusal extends InselError {
  /** the FTP reply code the client gets instead (425, 501, 502, 534, ...) */
  readonly replyCode: number;
  constructor(code: FtpRefusalCode, replyCode: number, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
    this.replyCode = replyCode;
  }
}
