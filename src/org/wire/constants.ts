// insel-org/1 and insel-enroll/1: the numbers of the specification
// (docs/PROTOCOL.md §7.1) apart from the implementation's choices.

// Specification
/** ALPN of the control protocol between site gateways (and admin tools) and HQ: client certificate required */
export const ALPN_ORG = 'insel-org/1';
/** ALPN of enrollment with a code: no client certificate (the client has none yet) */
export const ALPN_ENROLL = 'insel-enroll/1';
/** frame header: the payload's length as a u32, big-endian */
export const FRAME_HEADER = 4;
/** largest payload of one frame (1 MiB); a longer one closes the connection */
export const MAX_FRAME = 1 << 20;
/** requests a peer may have unanswered on one connection; the 17th closes it */
export const MAX_OUTSTANDING = 16;

// Implementation
/** bytes we let pile up unsent towards a peer that does not read (events to a stuck gateway) before closing */
export const MAX_UNSENT = 4 << 20;
/** requests the HQ link queues locally beyond MAX_OUTSTANDING before refusing new ones */
export const MAX_QUEUED = 1024;
