// The SOCKS5 UDP request header (RFC 1928 §7), on every datagram between the
// SOCKS client and our UDP relay socket:
//
//   RSV (2 bytes, 0) | FRAG | address (address.ts) | DATA
//
// A datagram is parsed whole (no incremental parsing): a short one is malformed.
// The forwarder's hot path checks only RSV and FRAG (associate.ts) and leaves
// the address to the gateway (address.ts); this full codec is for clients of
// the format: the bench's load generator and the tests.
import { encodedAddressLength, readAddress, writeAddress, type SocksAddress } from './address.js';
import { SocksError } from './errors.js';

export const UDP_HEADER_FIXED = 3; // RSV RSV FRAG

/** Parses a client's UDP datagram: { frag, address, dataOffset } or throws SocksError('INSEL_SOCKS_UDP', ...) when short /
 *  RSV != 0 / bad ATYP / bad domain. FRAG is returned as is (the caller drops frag != 0 and counts it). */
export function readUdpHeader(msg: Buffer): { frag: number; address: SocksAddress; dataOffset: number } {
  if (msg.length < UDP_HEADER_FIXED) throw malformed(`${msg.length} bytes are too short for a header`);
  if (msg[0] !== 0 || msg[1] !== 0) throw malformed(`reserved bytes are ${msg[0]} ${msg[1]} (expected 0 0)`);
  let read: ReturnType<typeof readAddress>;
  try {
    read = readAddress(msg, UDP_HEADER_FIXED);
  } catch (err) {
    // Same problem, UDP's code: no reply is possible for a datagram, it is dropped and counted.
    if (err instanceof SocksError) throw malformed(err.message, err);
    throw err;
  }
  if (read === undefined) throw malformed(`${msg.length} bytes end inside the address`);
  return { frag: msg[2]!, address: read.address, dataOffset: read.end };
}

/** 00 00 00 + address of host:port (for datagrams back to the client). */
export function encodeUdpHeader(host: string, port: number): Buffer {
  const out = Buffer.alloc(UDP_HEADER_FIXED + encodedAddressLength(host));
  writeAddress(out, UDP_HEADER_FIXED, host, port);
  return out;
}

function malformed(problem: string, cause?: unknown): SocksError {
  return new SocksError('INSEL_SOCKS_UDP', `SOCKS UDP header: ${problem}`, undefined, { cause });
}
