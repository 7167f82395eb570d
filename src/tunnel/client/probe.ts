// Bodies of the tunnel's path-MTU probes (docs/PROTOCOL.md "PMTU probes").
// They travel as inner kinds 4 PROBE and 5 PROBE_ACK of an authentic data-
// channel datagram, so only the peer can send them; the decoders still
// reject anything malformed, because the peer is not trusted either.
//
//   PROBE      0                 4
//              +-----------------+------------------------------------+
//              | probe id u32be  | zero padding (up to the probed size)|
//              +-----------------+------------------------------------+
//
//   PROBE_ACK  0                 4                  6
//              +-----------------+------------------+
//              | probe id u32be  | probed size u16be|
//              +-----------------+------------------+
//
// The probed size is the UDP payload size of the PROBE datagram as it
// arrived: its body length plus the datagram overhead (header 14, kind and
// flags 2, tag 16). The sender checks it against the size it probed.
import { DecodeError } from '../../secsock/errors.js';

// ---- Specification -------------------------------------------------------

export const KIND_PROBE = 4;
export const KIND_PROBE_ACK = 5;
/** Header (14) + inner kind and flags (2) + AEAD tag (16): a datagram's size minus its inner body. */
export const DATAGRAM_OVERHEAD = 32;
export const PROBE_ID_SIZE = 4;
export const PROBE_ACK_SIZE = 6;
/** The smallest probe datagram: overhead and an id, no padding. */
export const MIN_PROBE_SIZE = DATAGRAM_OVERHEAD + PROBE_ID_SIZE;
/** The largest: the size field is a u16 (and no UDP payload is larger). */
export const MAX_PROBE_SIZE = 0xffff;

/** The PROBE body without padding: the plane pads the datagram to the probed size with zeros. */
export function encodeProbe(id: number): Buffer {
  const out = Buffer.allocUnsafe(PROBE_ID_SIZE);
  out.writeUInt32BE(id, 0);
  return out;
}

/** A PROBE body's id; the padding must be zeros. Throws DecodeError when malformed. */
export function decodeProbe(body: Uint8Array): { id: number; size: number } {
  if (body.length < PROBE_ID_SIZE) throw new DecodeError(`PMTU probe of ${body.length} bytes is shorter than its ${PROBE_ID_SIZE}-byte id`);
  const size = body.length + DATAGRAM_OVERHEAD;
  if (size > MAX_PROBE_SIZE) throw new DecodeError(`PMTU probe of ${size} bytes is larger than ${MAX_PROBE_SIZE}`);
  for (let i = PROBE_ID_SIZE; i < body.length; i++) {
    if (body[i] !== 0) throw new DecodeError(`PMTU probe padding byte ${i} is not zero`);
  }
  return { id: readU32(body, 0), size };
}

export function encodeProbeAck(id: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(PROBE_ACK_SIZE);
  out.writeUInt32BE(id, 0);
  out.writeUInt16BE(size, PROBE_ID_SIZE);
  return out;
}

/** A PROBE_ACK body. Throws DecodeError when malformed. */
export function decodeProbeAck(body: Uint8Array): { id: number; size: number } {
  if (body.length !== PROBE_ACK_SIZE) throw new DecodeError(`PMTU probe ack of ${body.length} bytes (must be ${PROBE_ACK_SIZE})`);
  const size = (body[4]! << 8) | body[5]!;
  if (size < MIN_PROBE_SIZE) throw new DecodeError(`PMTU probe ack names ${size} bytes, smaller than any probe (${MIN_PROBE_SIZE})`);
  return { id: readU32(body, 0), size };
}

/** The responder's half: the PROBE_ACK body answering a PROBE body. Throws DecodeError when the probe is malformed. */
export function ackFor(probeBody: Uint8Array): Buffer {
  const { id, size } = decodeProbe(probeBody);
  return encodeProbeAck(id, size);
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
