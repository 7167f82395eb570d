// TCP MSS clamping (mss.h). Only reads within [0, len): packets come from
// the TUN device or an authenticated peer, but are never trusted to be sane.
#include "mss.h"

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), in one's complement arithmetic.
static uint16_t csum_replace(uint16_t sum, uint16_t old, uint16_t new) {
  uint32_t s = (uint16_t)~sum + (uint16_t)~old + (uint32_t)new;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static int clamp_tcp(uint8_t *tcp, size_t len, uint16_t mss) {
  if (len < 20 || !(tcp[13] & 0x02)) return 0; // not a SYN (or SYN-ACK)
  size_t doff = (size_t)(tcp[12] >> 4) * 4;
  if (doff < 20 || doff > len) return 0;
  for (size_t i = 20; i < doff;) {
    uint8_t kind = tcp[i];
    if (kind == 0) break; // end of options
    if (kind == 1) { i++; continue; } // NOP
    if (i + 1 >= doff || tcp[i + 1] < 2 || i + tcp[i + 1] > doff) break;
    if (kind == 2 && tcp[i + 1] == 4) {
      uint16_t old = be16(tcp + i + 2);
      if (old <= mss) return 0;
      tcp[i + 2] = (uint8_t)(mss >> 8), tcp[i + 3] = (uint8_t)mss;
      // The checksum sums 16-bit words from the TCP header's start; a value at
      // an odd offset straddles two words, which is the same as byte-swapped.
      int odd = (i + 2) & 1;
      uint16_t o = odd ? (uint16_t)(old << 8 | old >> 8) : old, n = odd ? (uint16_t)(mss << 8 | mss >> 8) : mss;
      uint16_t sum = csum_replace(be16(tcp + 16), o, n);
      tcp[16] = (uint8_t)(sum >> 8), tcp[17] = (uint8_t)sum;
      return 1;
    }
    i += tcp[i + 1];
  }
  return 0;
}

int mss_clamp_ip(uint8_t *pkt, size_t len, uint16_t mss) {
  if (mss == 0 || len < 1) return 0;
  if (pkt[0] >> 4 == 4) {
    size_t ihl = (size_t)(pkt[0] & 0x0f) * 4, total = len >= 4 ? be16(pkt + 2) : 0;
    // TCP, the first fragment only, lengths consistent.
    if (len < 20 || ihl < 20 || pkt[9] != 6 || (be16(pkt + 6) & 0x1fff) != 0 || total > len || total < ihl) return 0;
    return clamp_tcp(pkt + ihl, total - ihl, mss);
  }
  if (pkt[0] >> 4 == 6) {
    // TCP right after the fixed header; a SYN behind extension headers is rare and left alone.
    if (len < 40 || pkt[6] != 6 || mss < 20) return 0;
    size_t payload = be16(pkt + 4);
    if (40 + payload > len) return 0;
    return clamp_tcp(pkt + 40, payload, (uint16_t)(mss - 20));
  }
  return 0;
}
