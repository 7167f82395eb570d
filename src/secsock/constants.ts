// Sizes and limits of the SecSockets wire formats (docs/PROTOCOL.md) and of
// this implementation. Specification constants change the wire; implementation
// constants are defaults that config may override.

// ---- Specification -------------------------------------------------------

export const PROTOCOL_VERSION = 1;

/** TCP frame header: type u8 | flags u8 | length u32be. */
export const FRAME_HEADER_SIZE = 6;
export const FrameType = {
  HELLO: 1,
  ACCEPT: 2,
  REJECT: 3,
  DATA: 4,
  CLOSE: 5,
  /** Client, on a new TLS connection: move channel N here (TCP rekey). */
  RESUME: 6,
  /** Server, on the new connection: resume accepted. */
  RESUMED: 7,
  /** Either end, on the old connection: the last frame I send here. */
  SWITCH: 8,
  /** Server, on the current connection: please rekey (the client dials). */
  REKEY: 9,
} as const;
/** More frames of the same message follow. */
export const FLAG_MORE = 0x01;
/** The message was deflated before it was fragmented. */
export const FLAG_COMPRESSED = 0x02;
export const FRAME_FLAGS_KNOWN = FLAG_MORE | FLAG_COMPRESSED;

/** UDP datagram header: type u8 | epoch u8 | channel u32be | counter u64be. */
export const DGRAM_HEADER_SIZE = 14;
export const DGRAM_TYPE_SEALED = 1;
export const TAG_SIZE = 16;
export const NONCE_SIZE = 12;
export const KEY_SIZE = 32;
/** Inner header, inside the AEAD: kind u8 | flags u8. */
export const INNER_HEADER_SIZE = 2;
/** Fragment header after the inner header: message id u32be | index u16be | count u16be. */
export const FRAG_HEADER_SIZE = 8;
export const InnerKind = {
  DATA: 0,
  FRAGMENT: 1,
  KEEPALIVE: 2,
  CLOSE: 3,
  /** IP tunnel only: a path-MTU probe, padded to the size probed (PROTOCOL §6). */
  PROBE: 4,
  /** IP tunnel only: the answer to a PROBE. */
  PROBE_ACK: 5,
} as const;
export const MAX_FRAGMENTS = 0xffff;

export const NONCE_BYTES = 32;
export const EXPORTER_LABEL = 'EXPORTER-insel-secsock-v1';
/** TCP rekey: the secret that lets a client move its channel to a new TLS connection. */
export const RESUME_SECRET_LABEL = 'EXPORTER-insel-resume-v1';
/** TCP rekey: binds the resume proof to the new TLS connection. */
export const RESUME_PROOF_LABEL = 'EXPORTER-insel-resume-proof-v1';

// ---- Implementation ------------------------------------------------------

/**
 * Counters are JS numbers: exact up to 2^53. We rekey after 2^28 packets per
 * epoch (well inside AES-GCM's usage limits for ~1400-byte packets, RFC 8446
 * §5.5 allows 2^24.5 full 16 KiB records), so the 64-bit wire counter never
 * leaves the exact range.
 */
export const REKEY_AFTER_PACKETS = 2 ** 28;
/** 64 GiB per epoch and direction. */
export const REKEY_AFTER_BYTES = 2 ** 36;
/** Like WireGuard's REKEY_AFTER_TIME. */
export const REKEY_AFTER_MS = 120_000;
/** How long a superseded receive epoch still opens late, reordered packets. */
export const PREVIOUS_EPOCH_GRACE_MS = 10_000;

/** Replay window: RFC 6479 bitmap of 2048 bits in 32-bit words; 2016 usable. */
export const REPLAY_WINDOW_WORDS = 64;
