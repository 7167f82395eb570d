// Sizes, codes and defaults of the insel/1 multiplexer (docs/PROTOCOL.md §5.1).
// Specification constants change the wire; implementation constants are
// choices of this end that the peer never sees.

// ---- Specification -------------------------------------------------------

/** ALPN protocol id of a multiplexed session. */
export const MUX_ALPN = 'insel/1';

/** Frame header: type u8 | flags u8 | stream id u32be | payload length u32be. */
export const FRAME_HEADER_SIZE = 10;

export const FrameType = {
  DATA: 0,
  OPEN: 1,
  REPLY: 2,
  WINDOW: 3,
  RESET: 4,
  PING: 5,
  GOAWAY: 6,
} as const;

/** DATA, OPEN, REPLY: the sender's direction of the stream ends with this frame. */
export const FLAG_FIN = 0x1;
/** PING: this is the answer. */
export const FLAG_ACK = 0x2;
/** The flags each type may carry, indexed by type. */
export const FLAGS_ALLOWED: readonly number[] = [FLAG_FIN, FLAG_FIN, FLAG_FIN, 0, 0, FLAG_ACK, 0];

/** RESET and GOAWAY codes (one code space; GOAWAY 0 is a normal close). */
export const MuxCode = {
  CANCEL: 0,
  PROTOCOL_ERROR: 1,
  REFUSED: 2,
  CUT: 3,
  FLOW_CONTROL: 4,
  INTERNAL: 5,
} as const;
export const GOAWAY_NORMAL = 0;

/** Largest DATA payload a peer may send in one frame (the window bounds it too). */
export const MAX_DATA_PAYLOAD = 256 * 1024;
/** OPEN and REPLY header blocks. */
export const MAX_HEADER_BLOCK = 16 * 1024;
export const MAX_HEADERS = 64;
export const MAX_HEADER_NAME = 64;
/** RESET and GOAWAY: u32 code, then a UTF-8 reason of at most this many bytes. */
export const MAX_REASON = 1024;
export const CODE_SIZE = 4;
export const WINDOW_PAYLOAD = 4;
export const PING_PAYLOAD = 8;
/** Stream ids and window increments are u32; a send credit may not pass this either. */
export const MAX_U32 = 0xffff_ffff;

// ---- Implementation ------------------------------------------------------

/** DATA frames we send carry at most this much: big enough to amortize a header, small enough to interleave. */
export const SEND_FRAME = 64 * 1024;
/** DATA frames up to this size are copied together with their header: one write instead of two. */
export const SMALL_FRAME = 1024;
/**
 * We stop handing frames to the socket while its writableLength is above
 * this. A TLS socket's write() returns false at every 64 KiB, so its return
 * value says nothing useful; what we queue here is what a 1-byte frame of
 * another stream waits behind. One bulk frame: the kernel's socket buffer
 * keeps the connection busy, and 256 KiB here put the head-of-line echo of
 * `npm run bench -- forward` at 2.3–2.5 ms against 1.6–2.0 ms.
 */
export const SOCKET_QUEUE_CAP = 64 * 1024;
/**
 * A stream that has sent at most this much since it was last idle, counting
 * what it has queued, is interactive: its frames go ahead of bulk streams.
 */
export const LIGHT_BYTES = 16 * 1024;
/**
 * Control frames (REPLY, RESET, PING answers) queued because the socket is
 * full. Only a peer that sends OPENs or PINGs and does not read ours gets
 * here: beyond this, the session ends (GOAWAY FLOW_CONTROL).
 */
export const MAX_CONTROL_BACKLOG = 1024 * 1024;
/** After GOAWAY, how long we wait for the socket to flush before destroying it. */
export const GOAWAY_LINGER_MS = 2000;
/** A spliced socket is paused while this much of its data waits for credit or the scheduler. */
export const SPLICE_QUEUE_CAP = 256 * 1024;
