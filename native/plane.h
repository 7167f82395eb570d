// The IP tunnel's data plane (docs/PROTOCOL.md §3 datagrams, ARCHITECTURE.md
// "native/"): state shared by plane.c (the JS-facing functions, peers, keys,
// events) and plane-io.c (the per-packet pipeline on Node's loop).
#ifndef INSEL_PLANE_H
#define INSEL_PLANE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>
#include <node_api.h>
#include "aead.h"
#include "gso.h"
#include "replay.h"

#define HEADER_SIZE 14                        // type | epoch | channel u32 | counter u64: the AAD
#define INNER_SIZE 2                          // kind | flags
#define OVERHEAD (HEADER_SIZE + INNER_SIZE + AEAD_TAG_SIZE)
#define RX_BUF_SIZE 65536                     // any UDP datagram: PMTU probes may exceed maxPacket
#define MAX_COUNTER ((uint64_t)1 << 53)       // the receiver rejects counters beyond (PROTOCOL §3)
#define GSO_BUF_SIZE (VNET_HDR_SIZE + 65536)  // a TUN read with offload: vnet header + a 64 KiB super-packet
#define HASH_SIZE 1024
#define MAC_SLOTS 4096
#define UNKNOWN_PER_S 64

enum { KIND_DATA = 0 };

// Drop reasons, in the order of DROP_NAMES.
enum {
  D_TRUNCATED, D_BAD_TYPE, D_UNKNOWN_CHANNEL, D_STALE_EPOCH, D_REPLAY, D_TOO_OLD, D_AUTH_FAILED, D_MALFORMED,
  D_SPOOFED_SOURCE, D_NO_ROUTE, D_C2C_DENIED, D_TOO_BIG, D_SEND_FAILED, D_NO_KEY, D_EVENT_OVERFLOW, D_COUNT
};
extern const char *const DROP_NAMES[D_COUNT];

typedef struct {
  uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
  uint64_t drops[D_COUNT];
} stats_t;

enum { SLOT_PREV, SLOT_CUR, SLOT_NEXT, SLOTS };
typedef struct {
  aead_t aead; // aead.ctx == NULL: empty slot
  uint8_t epoch;
  replay_t window;
} slot_t;

// The tables a peer is found by: its JS id, its receive channel id, its virtual addresses.
enum { T_ID, T_RECV, T_VIP4, T_VIP6, TABLES };

typedef struct peer {
  struct peer *chain[TABLES], *next;
  uint8_t key[TABLES][16];
  uint8_t in[TABLES];
  uint32_t id, send_id;
  const EVP_CIPHER *cipher;
  int is_default, follow;
  aead_t send;
  uint8_t send_epoch;
  uint64_t send_counter;
  slot_t slot[SLOTS];
  int path_tcp, has_addr;                     // where sealed datagrams go
  struct sockaddr_storage addr;
  socklen_t addrlen;
  uint64_t last_rx;                           // uv_now of the last authentic datagram; 0 = none
  stats_t stats;
} peer_t;

// An event for onEvent, queued during a batch and dispatched after it, so JS
// never runs while the pipeline holds peer pointers.
typedef struct {
  const char *type;
  uint32_t id;
  int argc;
  napi_value argv[3];
} event_t;

typedef struct {
  event_t *items;
  size_t n, cap;
} evq_t;

typedef struct {
  uint8_t mac[6];
  peer_t *peer;
} mac_entry_t;

typedef struct plane {
  napi_env env;
  uv_poll_t tun_poll, udp_poll;
  int tun_fd, udp_fd, udp_family;
  int tap, c2c, batch, offload;               // offload: the TUN has IFF_VNET_HDR (gso.h)
  uint16_t mss;
  size_t max_packet;
  napi_ref on_event;
  napi_async_context async;
  int closed, refs;                           // refs: the JS external + the two poll handles
  uint64_t seed;
  peer_t *table[TABLES][HASH_SIZE];
  peer_t *all, *default_peer;
  mac_entry_t macs[MAC_SLOTS];                // TAP: learned source MACs, direct-mapped (bounded)
  stats_t stats;
  uint64_t last_rx, unknown_window;
  unsigned unknown_count;
  size_t tun_buf_size;
  uint8_t *tun_bufs, *rx_bufs, *scratch, *gso_buf; // gso_buf: one offload read (vnet header + 64 KiB)
  struct mmsghdr *rx_msgs, *tx_msgs;
  struct iovec *rx_iov, *tx_iov;
  struct sockaddr_storage *rx_addr;
  peer_t **tx_peer;
  int tx_n;
  evq_t evq;
} plane_t;

// plane.c
peer_t *plane_find(const plane_t *p, int table, const uint8_t key[16]);
void key_u32(uint8_t key[16], uint32_t v);
mac_entry_t *plane_mac_slot(plane_t *p, const uint8_t mac[6]);
void plane_drop(plane_t *p, peer_t *peer, int reason);
event_t *plane_event(plane_t *p, evq_t *q, const char *type, uint32_t id);
napi_value plane_copy(plane_t *p, const uint8_t *data, size_t len);
napi_value plane_from(plane_t *p, const struct sockaddr_storage *from);
void plane_dispatch(plane_t *p, evq_t *q);

// plane-io.c
enum { SEND_BATCH = 0, SEND_NOW = 1, SEND_UDP = 2 };
// Seals buf[HEADER_SIZE, HEADER_SIZE + inner) for `peer` and sends it (batched
// until plane_flush, or now: for buffers about to be reused). 1 if handed on.
int plane_send(plane_t *p, peer_t *peer, uint8_t *buf, size_t inner, evq_t *q, int how);
void plane_flush(plane_t *p);
// One datagram, decrypted in place in buf; from == NULL: it came over TCP.
void plane_receive(plane_t *p, uint8_t *buf, size_t len, const struct sockaddr_storage *from, evq_t *q);
void plane_on_tun(uv_poll_t *h, int status, int events);
void plane_on_udp(uv_poll_t *h, int status, int events);

#endif
