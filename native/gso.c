// TCP segmentation and checksum completion for TUN offloads (gso.h). The
// kernel built these packets, but lengths are still checked before use.
#include <string.h>
#include <linux/virtio_net.h>
#include "gso.h"

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static uint16_t host16(const uint8_t *p) { // virtio_net_hdr fields: host order (legacy, little-endian hosts)
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

// RFC 1071: the one's complement sum of b[0, n) added to `sum`, unfolded.
static uint64_t sum_bytes(uint64_t sum, const uint8_t *b, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) sum += (uint32_t)b[i] << 24 | (uint32_t)b[i + 1] << 16 | (uint32_t)b[i + 2] << 8 | b[i + 3];
  for (; i + 2 <= n; i += 2) sum += be16(b + i);
  if (i < n) sum += (uint32_t)b[i] << 8;
  return sum;
}

static uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

int gso_parse(const uint8_t vnet[VNET_HDR_SIZE], uint8_t *pkt, size_t len, gso_t *g) {
  uint8_t flags = vnet[0], type = vnet[1] & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
  size_t mss = host16(vnet + 4), start = host16(vnet + 6), off = host16(vnet + 8);
  if (type == VIRTIO_NET_HDR_GSO_NONE) {
    if (!(flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return 0;
    // The field holds the pseudo-header's sum; the rest of the packet from csum_start completes it.
    if (start >= len || off + 2 > len - start) return -1;
    uint16_t sum = (uint16_t)~fold(sum_bytes(0, pkt + start, len - start));
    put16(pkt + start + off, sum != 0 ? sum : 0xffff); // the same for TCP; 0 would mean "none" for UDP
    return 0;
  }
  if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6) return -1;
  g->v4 = type == VIRTIO_NET_HDR_GSO_TCPV4;
  if (g->v4) {
    if (len < 20 || pkt[0] >> 4 != 4 || pkt[9] != 6) return -1;
    g->l4 = (size_t)(pkt[0] & 0x0f) * 4;
    if (g->l4 < 20 || be16(pkt + 2) != len) return -1;
  } else {
    // TCP right after the fixed header, as Linux sends it (no extension headers).
    if (len < 40 || pkt[0] >> 4 != 6 || pkt[6] != 6 || (size_t)be16(pkt + 4) + 40 != len) return -1;
    g->l4 = 40;
  }
  if (g->l4 + 20 > len) return -1;
  g->hdr = g->l4 + (size_t)(pkt[g->l4 + 12] >> 4) * 4;
  if (g->hdr < g->l4 + 20 || g->hdr >= len || mss == 0) return -1;
  g->mss = mss, g->payload = len - g->hdr;
  g->count = (g->payload + mss - 1) / mss;
  return 1;
}

size_t gso_segment(const gso_t *g, const uint8_t *pkt, size_t i, uint8_t *out) {
  size_t at = i * g->mss, n = g->payload - at < g->mss ? g->payload - at : g->mss, len = g->hdr + n;
  uint8_t *tcp = out + g->l4;
  memcpy(out, pkt, g->hdr);
  memcpy(out + g->hdr, pkt + g->hdr + at, n);
  uint64_t sum;
  if (g->v4) {
    put16(out + 2, (uint16_t)len);
    put16(out + 4, (uint16_t)(be16(pkt + 4) + i)); // the kernel numbers segments' ids from the first
    put16(out + 10, 0);
    put16(out + 10, (uint16_t)~fold(sum_bytes(0, out, g->l4)));
    sum = sum_bytes(0, out + 12, 8) + 6 + (len - g->l4);
  } else {
    put16(out + 4, (uint16_t)(len - 40));
    sum = sum_bytes(0, out + 8, 32) + 6 + (len - 40);
  }
  uint32_t seq = (uint32_t)be16(tcp + 4) << 16 | be16(tcp + 6);
  seq += (uint32_t)at;
  put16(tcp + 4, (uint16_t)(seq >> 16)), put16(tcp + 6, (uint16_t)seq);
  if (i + 1 < g->count) tcp[13] &= (uint8_t)~0x09; // FIN and PSH on the last segment only
  if (i > 0) tcp[13] &= (uint8_t)~0x80;            // CWR on the first only
  put16(tcp + 16, 0);
  put16(tcp + 16, (uint16_t)~fold(sum_bytes(sum, tcp, len - g->l4)));
  return len;
}
