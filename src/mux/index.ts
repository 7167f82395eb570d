// The insel/1 stream multiplexer: many streams over one reliable, ordered
// byte stream (the mTLS socket). docs/PROTOCOL.md §5.1 is its wire format.
export { MUX_ALPN, MuxCode, GOAWAY_NORMAL } from './constants.js';
export { MuxError, type MuxErrorCode } from './errors.js';
export type { MuxHeaders } from './headers.js';
export { DEFAULT_LIMITS, type MuxLimits } from './limits.js';
export { MuxSession, type MuxSessionOptions } from './session.js';
export { MuxStream } from './stream.js';
