// Typed errors of the multiplexer. `code` is stable; `muxCode` is what went
// (or would go) on the wire in RESET or GOAWAY.
import { InselError, type ErrorContext } from '../errors.js';
import { MuxCode } from './constants.js';

export type MuxErrorCode =
  /** the peer broke the framing or the stream rules: the session is closed with GOAWAY PROTOCOL_ERROR */
  | 'INSEL_MUX_PROTOCOL'
  /** the peer sent beyond its credit, or made us buffer beyond the session's limit: GOAWAY FLOW_CONTROL */
  | 'INSEL_MUX_FLOW_CONTROL'
  /** the session is closing or closed: no new streams */
  | 'INSEL_MUX_CLOSED'
  /** headers we were asked to send cannot be put on the wire (names, sizes) */
  | 'INSEL_MUX_BAD_HEADERS'
  /** a call that the stream's state does not allow (respond twice, respond as the opener) */
  | 'INSEL_MUX_STATE'
  /** a limit option is out of range */
  | 'INSEL_MUX_OPTION';

export class MuxError extends InselError {
  declare readonly code: MuxErrorCode;
  /** The RESET/GOAWAY code this error maps to. */
  readonly muxCode: number;

  constructor(code: MuxErrorCode, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
    this.muxCode = code === 'INSEL_MUX_FLOW_CONTROL' ? MuxCode.FLOW_CONTROL : code === 'INSEL_MUX_PROTOCOL' ? MuxCode.PROTOCOL_ERROR : MuxCode.INTERNAL;
  }
}

export const protocolError = (message: string) => new MuxError('INSEL_MUX_PROTOCOL', message);
export const flowError = (message: string) => new MuxError('INSEL_MUX_FLOW_CONTROL', message);
