// TUN offloads (IFF_VNET_HDR): what the kernel hands a TUN opened with
// TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 (gso.c). Each read starts with a
// virtio_net_hdr; a TCP "super-packet" of up to 64 KiB is cut here into
// gso_size segments, so a bulk transfer costs one read per 64 KiB.
#ifndef INSEL_GSO_H
#define INSEL_GSO_H
#include <stddef.h>
#include <stdint.h>

#define VNET_HDR_SIZE 10                      // sizeof(struct virtio_net_hdr)

// A validated super-packet: `count` segments of `mss` payload bytes (the last may be shorter).
typedef struct {
  size_t hdr, l4, payload, mss, count;        // IP+TCP header length, TCP offset, payload bytes
  int v4;
} gso_t;

// Reads the virtio_net_hdr before pkt[0, len): 0 = a plain packet (its
// checksum completed if the kernel left it partial), 1 = a TCP super-packet
// described in *g, -1 = malformed (drop). Only reads and writes within pkt.
int gso_parse(const uint8_t vnet[VNET_HDR_SIZE], uint8_t *pkt, size_t len, gso_t *g);

// Writes segment i of the super-packet pkt as a complete IP packet to out; its length.
size_t gso_segment(const gso_t *g, const uint8_t *pkt, size_t i, uint8_t *out);

#endif
