// UDP forwarding messages (docs/PROTOCOL.md "UDP forwarding"). One SecSockets
// UDP channel carries many flows; one channel message is exactly one flow
// message, so there is no length field: the message ends where it ends.
//
//   0      1                        5
//   +------+------------------------+--------------------------------------+
//   | type |     flow (u32be)       | body (depends on type)               |
//   +------+------------------------+--------------------------------------+
//
//   type  name    direction          body
//   1     OPEN    client → gateway   port u16be | host (1-255 bytes, printable ASCII 0x21-0x7e)
//   2     OPENED  gateway → client   empty
//   3     DENIED  gateway → client   reason (UTF-8, ≤ 512 bytes)
//   4     DATA    both               one UDP datagram (0-65535 bytes)
//   5     CLOSE   both               reason (UTF-8, ≤ 512 bytes, may be empty)
//   6     OPEN_SERVICE client → gateway  n u8 | service (n = 1-255) | ticket (0-255)
//   7     ASSOCIATE client → gateway  empty: a SOCKS5 UDP association (insel forward -D)
//   8     DEST_DENIED gateway → client  reason (UTF-8, ≤ 512 bytes): one destination of an association refused
//
//   OPEN body:
//   5             7
//   +-------------+---------------------------------------------+
//   | port u16be  | host, e.g. "10.0.0.5", "dns.corp", "::1"     |
//   +-------------+---------------------------------------------+
//
//   OPEN_SERVICE body (the organization, docs/PROTOCOL.md §7.4): the flow goes
//   to a named service (or call) instead of a host:port; both are printable
//   ASCII 0x21-0x7e. A user asks its own site for "svc@site" (no ticket); a
//   site relays it to the target site as "svc" with HQ's ticket.
//   5      6                      6+n
//   +------+----------------------+---------------------------------------+
//   | n u8 | service, e.g. rtp@b  | ticket "<id>.<secret>" or empty       |
//   +------+----------------------+---------------------------------------+
//
//   ASSOCIATE (RFC 1928 §7 through the gateway): one flow for many
//   destinations. Its DATA bodies carry an address before the datagram, in
//   SOCKS5's own form (src/socks/address.ts), so names travel unresolved:
//   client → gateway the destination, gateway → client the reply's source.
//   +------+-------------------+-----------+------------------------------+
//   | ATYP | addr (4, 1+n, 16) | port u16be| datagram                     |
//   +------+-------------------+-----------+------------------------------+
//   The gateway decides each destination by its policy; a refused one gets
//   one DEST_DENIED (the reason names it), and its datagrams are dropped.
//
// Flow ids are chosen by the client, once per (local source address, port)
// and never reused on a channel, so a late CLOSE or DATA of an expired flow
// cannot hit its successor. The client repeats OPEN until OPENED or DENIED
// (UDP channels lose messages); the gateway answers a repeated OPEN the same
// way again. DATA for a flow the gateway does not know is dropped and
// answered with one CLOSE. Every valid message has exactly one encoding:
// encode(decode(m)) equals m byte for byte (the fuzz test checks it).
import { FlowDecodeError, ForwardError } from '../forward/errors.js';
import { DecodeError } from '../secsock/errors.js';

// ---- Specification -------------------------------------------------------

export const FLOW_HEADER_SIZE = 5;
export const FlowType = {
  OPEN: 1,
  OPENED: 2,
  DENIED: 3,
  DATA: 4,
  CLOSE: 5,
  OPEN_SERVICE: 6,
  ASSOCIATE: 7,
  DEST_DENIED: 8,
} as const;
/** u16 port before the host in OPEN. */
export const OPEN_PORT_SIZE = 2;
export const MAX_HOST = 255;
/** OPEN_SERVICE: service and ticket are each at most this long (the length byte's range). */
export const MAX_SERVICE = 255;
export const MAX_TICKET = 255;
export const MAX_REASON = 512;
/** The largest UDP payload any IP version carries (IPv6 jumbograms aside). */
export const MAX_DATAGRAM = 0xffff;

export type FlowMessage =
  | { type: typeof FlowType.OPEN; flow: number; host: string; port: number }
  | { type: typeof FlowType.OPEN_SERVICE; flow: number; service: string; ticket: string }
  | { type: typeof FlowType.OPENED | typeof FlowType.ASSOCIATE; flow: number }
  | { type: typeof FlowType.DENIED | typeof FlowType.DEST_DENIED; flow: number; reason: string }
  | { type: typeof FlowType.DATA; flow: number; body: Buffer }
  | { type: typeof FlowType.CLOSE; flow: number; reason: string };

// Fatal: a reason that is not UTF-8 is malformed, not silently mangled.
// ignoreBOM: a leading U+FEFF is kept, so decoding stays a bijection.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Why `host`/`port` cannot go into an OPEN, or undefined if they can. */
export function targetProblem(host: string, port: number): string | undefined {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) return `port ${port} is not in 1-65535`;
  if (host.length < 1 || host.length > MAX_HOST) return `host must be 1-${MAX_HOST} characters`;
  if (!printable(host)) return `host ${JSON.stringify(host)} has a character outside printable ASCII (use punycode for IDNs)`;
  return undefined;
}

function printable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

export function encodeOpen(flow: number, host: string, port: number): Buffer {
  const problem = targetProblem(host, port);
  if (problem !== undefined) throw new ForwardError('INSEL_FORWARD_BAD_TARGET', `cannot forward to ${host}:${port}: ${problem}`, { peer: `${host}:${port}` });
  const out = header(FlowType.OPEN, flow, OPEN_PORT_SIZE + host.length);
  out.writeUInt16BE(port, FLOW_HEADER_SIZE);
  out.write(host, FLOW_HEADER_SIZE + OPEN_PORT_SIZE, 'latin1');
  return out;
}

/** Why `service`/`ticket` cannot go into an OPEN_SERVICE, or undefined if they can. */
export function serviceProblem(service: string, ticket: string): string | undefined {
  if (service.length < 1 || service.length > MAX_SERVICE) return `service name must be 1-${MAX_SERVICE} characters`;
  if (ticket.length > MAX_TICKET) return `ticket must be at most ${MAX_TICKET} characters`;
  if (!printable(service) || !printable(ticket)) return 'service and ticket must be printable ASCII';
  return undefined;
}

export function encodeOpenService(flow: number, service: string, ticket: string): Buffer {
  const problem = serviceProblem(service, ticket);
  if (problem !== undefined) throw new ForwardError('INSEL_FORWARD_BAD_TARGET', `cannot open a flow to service ${JSON.stringify(service)}: ${problem}`, { peer: service });
  const out = header(FlowType.OPEN_SERVICE, flow, 1 + service.length + ticket.length);
  out[FLOW_HEADER_SIZE] = service.length;
  out.write(service, FLOW_HEADER_SIZE + 1, 'latin1');
  out.write(ticket, FLOW_HEADER_SIZE + 1 + service.length, 'latin1');
  return out;
}

export function encodeOpened(flow: number): Buffer {
  return header(FlowType.OPENED, flow, 0);
}

export function encodeAssociate(flow: number): Buffer {
  return header(FlowType.ASSOCIATE, flow, 0);
}

export function encodeDenied(flow: number, reason: string): Buffer {
  return withReason(FlowType.DENIED, flow, reason);
}

export function encodeDestDenied(flow: number, reason: string): Buffer {
  return withReason(FlowType.DEST_DENIED, flow, reason);
}

export function encodeClose(flow: number, reason = ''): Buffer {
  return withReason(FlowType.CLOSE, flow, reason);
}

/**
 * One copy of the datagram behind the header, for a datagram too large for
 * one packet (FlowSender seals the header before the datagram without it):
 * the channel holds the buffer while its fragments go out across event-loop
 * turns, so a shared scratch buffer would be overwritten.
 */
export function encodeData(flow: number, datagram: Uint8Array): Buffer {
  if (datagram.length > MAX_DATAGRAM) throw new ForwardError('INSEL_FORWARD_BAD_TARGET', `datagram of ${datagram.length} bytes exceeds ${MAX_DATAGRAM}`);
  const out = header(FlowType.DATA, flow, datagram.length);
  out.set(datagram, FLOW_HEADER_SIZE);
  return out;
}

export function encodeFlowMessage(m: FlowMessage): Buffer {
  switch (m.type) {
    case FlowType.OPEN:
      return encodeOpen(m.flow, m.host, m.port);
    case FlowType.OPEN_SERVICE:
      return encodeOpenService(m.flow, m.service, m.ticket);
    case FlowType.OPENED:
    case FlowType.ASSOCIATE:
      return header(m.type, m.flow, 0);
    case FlowType.DENIED:
    case FlowType.DEST_DENIED:
      return withReason(m.type, m.flow, m.reason);
    case FlowType.DATA:
      return encodeData(m.flow, m.body);
    case FlowType.CLOSE:
      return encodeClose(m.flow, m.reason);
  }
}

/** A whole channel message to a flow message; throws FlowDecodeError if malformed. DATA's body is a view, not a copy. */
export function decodeFlowMessage(buf: Buffer): FlowMessage {
  if (buf.length < FLOW_HEADER_SIZE) throw new FlowDecodeError(`flow message of ${buf.length} bytes is shorter than its ${FLOW_HEADER_SIZE}-byte header`);
  const type = buf[0]!;
  const flow = buf.readUInt32BE(1);
  const bodyLen = buf.length - FLOW_HEADER_SIZE;
  switch (type) {
    case FlowType.DATA:
      if (bodyLen > MAX_DATAGRAM) throw new FlowDecodeError(`DATA of flow ${flow} carries ${bodyLen} bytes, more than ${MAX_DATAGRAM}`);
      return { type, flow, body: buf.subarray(FLOW_HEADER_SIZE) };
    case FlowType.OPEN: {
      if (bodyLen < OPEN_PORT_SIZE + 1) throw new FlowDecodeError(`OPEN of flow ${flow} has no host`);
      if (bodyLen > OPEN_PORT_SIZE + MAX_HOST) throw new FlowDecodeError(`OPEN of flow ${flow} has a host longer than ${MAX_HOST} bytes`);
      const port = buf.readUInt16BE(FLOW_HEADER_SIZE);
      if (port === 0) throw new FlowDecodeError(`OPEN of flow ${flow} asks for port 0`);
      for (let i = FLOW_HEADER_SIZE + OPEN_PORT_SIZE; i < buf.length; i++) {
        const c = buf[i]!;
        if (c < 0x21 || c > 0x7e) throw new FlowDecodeError(`OPEN of flow ${flow} has byte 0x${c.toString(16)} in its host`);
      }
      return { type, flow, port, host: buf.toString('latin1', FLOW_HEADER_SIZE + OPEN_PORT_SIZE) };
    }
    case FlowType.OPEN_SERVICE: {
      const n = bodyLen < 1 ? 0 : buf[FLOW_HEADER_SIZE]!;
      if (n === 0 || bodyLen < 1 + n) throw new FlowDecodeError(`OPEN_SERVICE of flow ${flow} has no service name`);
      if (bodyLen - 1 - n > MAX_TICKET) throw new FlowDecodeError(`OPEN_SERVICE of flow ${flow} has a ticket longer than ${MAX_TICKET} bytes`);
      for (let i = FLOW_HEADER_SIZE + 1; i < buf.length; i++) {
        const c = buf[i]!;
        if (c < 0x21 || c > 0x7e) throw new FlowDecodeError(`OPEN_SERVICE of flow ${flow} has byte 0x${c.toString(16)} in its service or ticket`);
      }
      const end = FLOW_HEADER_SIZE + 1 + n;
      return { type, flow, service: buf.toString('latin1', FLOW_HEADER_SIZE + 1, end), ticket: buf.toString('latin1', end) };
    }
    case FlowType.OPENED:
    case FlowType.ASSOCIATE:
      if (bodyLen !== 0) throw new FlowDecodeError(`${NAMES[type]} of flow ${flow} has a ${bodyLen}-byte body; it must be empty`);
      return { type, flow };
    case FlowType.DENIED:
    case FlowType.DEST_DENIED:
    case FlowType.CLOSE:
      return { type, flow, reason: decodeReason(buf, type, flow) };
    default:
      throw new FlowDecodeError(`unknown flow message type ${type}`);
  }
}

/** decodeFlowMessage on a receive path: undefined for a malformed message (the caller counts the drop); other errors are bugs and propagate. */
export function readFlowMessage(buf: Buffer): FlowMessage | undefined {
  try {
    return decodeFlowMessage(buf);
  } catch (err) {
    if (err instanceof DecodeError) return undefined;
    throw err;
  }
}

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(FlowType).map(([name, type]) => [type, name]));

function decodeReason(buf: Buffer, type: number, flow: number): string {
  const name = NAMES[type]!;
  if (buf.length - FLOW_HEADER_SIZE > MAX_REASON) throw new FlowDecodeError(`${name} of flow ${flow} has a reason longer than ${MAX_REASON} bytes`);
  try {
    return utf8.decode(buf.subarray(FLOW_HEADER_SIZE));
  } catch {
    throw new FlowDecodeError(`${name} of flow ${flow} has a reason that is not UTF-8`);
  }
}

/** Writes the 5-byte header of a flow message at the start of `out`. */
export function writeFlowHeader(out: Buffer, type: number, flow: number): Buffer {
  out[0] = type;
  out.writeUInt32BE(flow >>> 0, 1);
  return out;
}

function header(type: number, flow: number, bodyLen: number): Buffer {
  return writeFlowHeader(Buffer.allocUnsafe(FLOW_HEADER_SIZE + bodyLen), type, flow);
}

/** Reasons are cut to MAX_REASON bytes at a character boundary, so the cut is still UTF-8. */
function withReason(type: number, flow: number, reason: string): Buffer {
  let text = Buffer.from(reason, 'utf8');
  if (text.length > MAX_REASON) {
    let end = MAX_REASON;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--; // back up to the start of the cut character
    text = text.subarray(0, end);
  }
  const out = header(type, flow, text.length);
  text.copy(out, FLOW_HEADER_SIZE);
  return out;
}
