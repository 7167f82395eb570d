// TCP MSS clamping on SYNs (mss.c), so a path with a small MTU and ICMP
// filtered still carries TCP: the endpoints never pick segments too large.
#ifndef INSEL_MSS_H
#define INSEL_MSS_H
#include <stddef.h>
#include <stdint.h>

// Clamps the MSS option of a TCP SYN in the IP packet pkt[0, len) to `mss`
// (IPv4) or `mss` - 20 (IPv6, whose header is 20 bytes longer), fixing the
// TCP checksum incrementally. Anything else is left alone. 1 if changed.
int mss_clamp_ip(uint8_t *pkt, size_t len, uint16_t mss);

#endif
