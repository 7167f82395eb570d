// The per-packet pipeline, on Node's own loop (uv_poll), in batches.
//
// TUN → UDP: read up to `batch` packets → MSS clamp → route (vip4/vip6 table,
//   else the default peer; TAP: learned MAC, else flood) → header → seal in
//   place → sendmmsg to each packet's peer (or a 'tcp' event on the TCP rung).
// UDP → TUN: recvmmsg → length, type, counter → channel id → epoch slot →
//   replay check → AEAD open → replay mark, promote epoch, follow the path →
//   inner kind: DATA → anti-spoof → client-to-client or MSS clamp → TUN write;
//   other kinds → 'control' event.
// Cheap checks first; state changes only after authentication. JS runs only
// after a batch (plane_dispatch), never while peer pointers are held.
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include "mss.h"
#include "plane.h"

static uint64_t be64(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | b[i];
  return v;
}

static uint32_t be32(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

static void put_header(uint8_t *b, uint8_t epoch, uint32_t id, uint64_t counter) {
  b[0] = 1, b[1] = epoch;
  for (int i = 0; i < 4; i++) b[2 + i] = (uint8_t)(id >> (24 - 8 * i));
  for (int i = 0; i < 8; i++) b[6 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

void plane_flush(plane_t *p) {
  int sent = 0;
  while (sent < p->tx_n) {
    int r = sendmmsg(p->udp_fd, p->tx_msgs + sent, (unsigned)(p->tx_n - sent), MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) break; // socket buffer full: the rest is lost, as on a wire
    if (r <= 0) { // this message failed (e.g. no route to its address): skip it, send the rest
      plane_drop(p, p->tx_peer[sent++], D_SEND_FAILED);
      continue;
    }
    for (int i = sent; i < sent + r; i++) {
      stats_t *s[2] = {&p->stats, &p->tx_peer[i]->stats};
      for (int k = 0; k < 2; k++) s[k]->tx_packets++, s[k]->tx_bytes += p->tx_msgs[i].msg_len;
    }
    sent += r;
  }
  for (; sent < p->tx_n; sent++) plane_drop(p, p->tx_peer[sent], D_SEND_FAILED);
  p->tx_n = 0;
}

int plane_send(plane_t *p, peer_t *peer, uint8_t *buf, size_t inner, evq_t *q, int how) {
  int tcp = peer->path_tcp && !(how & SEND_UDP);
  if (peer->send.ctx == NULL || peer->send_counter >= MAX_COUNTER) return plane_drop(p, peer, D_NO_KEY), 0;
  if (!tcp && !peer->has_addr) return plane_drop(p, peer, D_NO_ROUTE), 0;
  put_header(buf, peer->send_epoch, peer->send_id, peer->send_counter);
  if (!aead_seal(&peer->send, buf, HEADER_SIZE, HEADER_SIZE + inner, peer->send_counter)) return plane_drop(p, peer, D_SEND_FAILED), 0;
  peer->send_counter++; // a counter is spent once sealed, whatever happens to the datagram
  size_t len = HEADER_SIZE + inner + AEAD_TAG_SIZE;
  if (tcp) {
    event_t *e = plane_event(p, q, "tcp", peer->id);
    if (e == NULL || (e->argv[0] = plane_copy(p, buf, len)) == NULL) return 0;
    e->argc = 1;
  } else if (how & SEND_NOW) {
    if (sendto(p->udp_fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&peer->addr, peer->addrlen) < 0)
      return plane_drop(p, peer, D_SEND_FAILED), 0;
  } else {
    if (p->tx_n == p->batch) plane_flush(p);
    int i = p->tx_n++;
    p->tx_iov[i] = (struct iovec){buf, len};
    p->tx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &peer->addr, .msg_namelen = peer->addrlen, .msg_iov = &p->tx_iov[i], .msg_iovlen = 1};
    p->tx_peer[i] = peer;
    return 1; // counted in plane_flush
  }
  stats_t *s[2] = {&p->stats, &peer->stats};
  for (int k = 0; k < 2; k++) s[k]->tx_packets++, s[k]->tx_bytes += len;
  return 1;
}

// TAP: a copy to every peer but `except` (broadcast, multicast, unknown MAC).
static void flood(plane_t *p, const uint8_t *inner, size_t len, peer_t *except, evq_t *q) {
  for (peer_t *o = p->all; o != NULL; o = o->next) {
    if (o == except) continue;
    memcpy(p->scratch + HEADER_SIZE, inner, len);
    plane_send(p, o, p->scratch, len, q, SEND_NOW);
  }
}

static size_t ether_ip(const uint8_t *frame, size_t len) {
  return len >= 14 && ((frame[12] == 0x08 && frame[13] == 0x00) || (frame[12] == 0x86 && frame[13] == 0xdd)) ? 14 : 0;
}

static void clamp(plane_t *p, uint8_t *pkt, size_t len) {
  if (p->mss == 0) return;
  size_t off = p->tap ? ether_ip(pkt, len) : 0;
  if (!p->tap || off) mss_clamp_ip(pkt + off, len - off, p->mss);
}

// The peer whose virtual address is the packet's destination (TUN).
static peer_t *by_dst(plane_t *p, const uint8_t *pkt, size_t len) {
  uint8_t key[16] = {0};
  if (len >= 20 && pkt[0] >> 4 == 4) return memcpy(key, pkt + 16, 4), plane_find(p, T_VIP4, key);
  if (len >= 40 && pkt[0] >> 4 == 6) return memcpy(key, pkt + 24, 16), plane_find(p, T_VIP6, key);
  return NULL;
}

// One packet from the TUN device at buf + HEADER_SIZE + INNER_SIZE.
static void from_tun(plane_t *p, uint8_t *buf, size_t n, evq_t *q) {
  uint8_t *pkt = buf + HEADER_SIZE + INNER_SIZE;
  if (n > p->max_packet) return plane_drop(p, NULL, D_TOO_BIG);
  buf[HEADER_SIZE] = KIND_DATA, buf[HEADER_SIZE + 1] = 0;
  clamp(p, pkt, n);
  peer_t *to = p->default_peer;
  if (!p->tap) {
    peer_t *v = by_dst(p, pkt, n);
    to = v != NULL ? v : to;
  } else if (to == NULL && n >= 14) {
    mac_entry_t *m = plane_mac_slot(p, pkt);
    if ((pkt[0] & 1) || m->peer == NULL || memcmp(m->mac, pkt, 6) != 0) return flood(p, buf + HEADER_SIZE, INNER_SIZE + n, NULL, q);
    to = m->peer;
  }
  if (to == NULL) return plane_drop(p, NULL, D_NO_ROUTE);
  plane_send(p, to, buf, INNER_SIZE + n, q, SEND_BATCH);
}

static void write_tun(plane_t *p, peer_t *peer, uint8_t *pkt, size_t len) {
  static const uint8_t plain[VNET_HDR_SIZE]; // offload: all zero = a complete packet, checksums done
  clamp(p, pkt, len);
  struct iovec iov[2] = {{(void *)plain, VNET_HDR_SIZE}, {pkt, len}};
  if (writev(p->tun_fd, iov + !p->offload, 2 - !p->offload) < 0) plane_drop(p, peer, D_SEND_FAILED);
}

// An authentic IP packet (TUN) from `peer`: anti-spoof, then client-to-client or the TUN.
static void deliver_ip(plane_t *p, peer_t *peer, uint8_t *buf, size_t len, evq_t *q) {
  uint8_t *pkt = buf + HEADER_SIZE + INNER_SIZE, key[16] = {0};
  int v4 = len >= 20 && pkt[0] >> 4 == 4, v6 = len >= 40 && pkt[0] >> 4 == 6;
  if (!v4 && !v6) return plane_drop(p, peer, D_MALFORMED);
  // The source must be the address we gave the peer: no one speaks for another.
  if (!peer->is_default) {
    memcpy(key, v4 ? pkt + 12 : pkt + 8, v4 ? 4 : 16);
    if (!peer->in[v4 ? T_VIP4 : T_VIP6] || memcmp(key, peer->key[v4 ? T_VIP4 : T_VIP6], 16) != 0)
      return plane_drop(p, peer, D_SPOOFED_SOURCE);
  }
  peer_t *to = by_dst(p, pkt, len);
  if (to != NULL && to != peer) {
    if (!p->c2c) return plane_drop(p, peer, D_C2C_DENIED);
    clamp(p, pkt, len);
    plane_send(p, to, buf, INNER_SIZE + len, q, SEND_BATCH); // re-sealed in place for the other peer
    return;
  }
  write_tun(p, peer, pkt, len);
}

// An authentic Ethernet frame (TAP) from `peer`: learn its source, then switch.
static void deliver_frame(plane_t *p, peer_t *peer, uint8_t *buf, size_t len, evq_t *q) {
  uint8_t *frame = buf + HEADER_SIZE + INNER_SIZE;
  if (len < 14) return plane_drop(p, peer, D_MALFORMED);
  if (!(frame[6] & 1)) { // a unicast source MAC is behind this peer (the slot may evict another: then we flood)
    mac_entry_t *m = plane_mac_slot(p, frame + 6);
    memcpy(m->mac, frame + 6, 6), m->peer = peer;
  }
  if (frame[0] & 1) {
    if (p->c2c) flood(p, buf + HEADER_SIZE, INNER_SIZE + len, peer, q);
    return write_tun(p, peer, frame, len);
  }
  mac_entry_t *m = plane_mac_slot(p, frame);
  if (m->peer != NULL && m->peer != peer && memcmp(m->mac, frame, 6) == 0) {
    if (!p->c2c) return plane_drop(p, peer, D_C2C_DENIED);
    clamp(p, frame, len);
    plane_send(p, m->peer, buf, INNER_SIZE + len, q, SEND_BATCH);
    return;
  }
  write_tun(p, peer, frame, len);
}

static int same_addr(const peer_t *peer, const struct sockaddr_storage *a) {
  if (!peer->has_addr || a->ss_family != peer->addr.ss_family) return 0;
  return memcmp(a, &peer->addr, a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) == 0;
}

static void set_addr(peer_t *peer, const struct sockaddr_storage *from) {
  peer->has_addr = 1;
  peer->addr = *from;
  peer->addrlen = from->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

// Follow mode: the send path goes where the peer's authentic datagrams come from: DATA from
// either rung (UDP <-> TCP), any datagram over UDP while not on the TCP rung (roaming).
static void follow(plane_t *p, peer_t *peer, const struct sockaddr_storage *from, evq_t *q) {
  if (from == NULL ? peer->path_tcp : !peer->path_tcp && same_addr(peer, from)) return;
  peer->path_tcp = from == NULL;
  if (from != NULL) set_addr(peer, from);
  event_t *e = plane_event(p, q, "path", peer->id);
  if (e != NULL && (e->argv[0] = plane_from(p, from)) != NULL) e->argc = 1;
}

static void unknown(plane_t *p, uint32_t id, const uint8_t *buf, size_t len, const struct sockaddr_storage *from, evq_t *q) {
  uint64_t now = uv_now(p->tun_poll.loop);
  if (now - p->unknown_window >= 1000) p->unknown_window = now, p->unknown_count = 0;
  if (p->unknown_count >= UNKNOWN_PER_S) return; // bounded work for anyone who can reach the port
  p->unknown_count++;
  event_t *e = plane_event(p, q, "unknown", id);
  if (e != NULL && (e->argv[0] = plane_copy(p, buf, len)) != NULL && (e->argv[1] = plane_from(p, from)) != NULL) e->argc = 2;
}

void plane_receive(plane_t *p, uint8_t *buf, size_t len, const struct sockaddr_storage *from, evq_t *q) {
  uint8_t key[16];
  if (len < HEADER_SIZE) return plane_drop(p, NULL, D_TRUNCATED);
  if (buf[0] != 1) return plane_drop(p, NULL, D_BAD_TYPE);
  uint64_t counter = be64(buf + 6);
  if (counter >= MAX_COUNTER) return plane_drop(p, NULL, D_MALFORMED);
  uint32_t id = be32(buf + 2);
  key_u32(key, id);
  peer_t *peer = plane_find(p, T_RECV, key);
  if (peer == NULL) {
    plane_drop(p, NULL, D_UNKNOWN_CHANNEL);
    return unknown(p, id, buf, len, from, q);
  }
  slot_t *s = NULL;
  for (int i = SLOT_CUR; s == NULL && i < SLOT_CUR + SLOTS; i++) { // cur, next, prev
    slot_t *c = &peer->slot[i % SLOTS];
    if (c->aead.ctx != NULL && c->epoch == buf[1]) s = c;
  }
  if (s == NULL) return plane_drop(p, peer, D_STALE_EPOCH);
  int r = replay_check(&s->window, counter);
  if (r != REPLAY_OK) return plane_drop(p, peer, r == REPLAY_SEEN ? D_REPLAY : D_TOO_OLD);
  long m = aead_open(&s->aead, buf, len, HEADER_SIZE, counter);
  if (m < 0) return plane_drop(p, peer, D_AUTH_FAILED);

  // Authentic from here on.
  replay_mark(&s->window, counter);
  peer->last_rx = p->last_rx = uv_now(p->tun_poll.loop);
  stats_t *st[2] = {&p->stats, &peer->stats};
  for (int k = 0; k < 2; k++) st[k]->rx_packets++, st[k]->rx_bytes += len;
  if (s == &peer->slot[SLOT_NEXT]) { // the peer rekeyed: next becomes current
    aead_release(&peer->slot[SLOT_PREV].aead);
    peer->slot[SLOT_PREV] = peer->slot[SLOT_CUR];
    peer->slot[SLOT_CUR] = peer->slot[SLOT_NEXT];
    memset(&peer->slot[SLOT_NEXT], 0, sizeof(slot_t));
    event_t *e = plane_event(p, q, "promoted", peer->id);
    if (e != NULL && napi_create_uint32(p->env, buf[1], &e->argv[0]) == napi_ok) e->argc = 1;
  }
  uint8_t *inner = buf + HEADER_SIZE;
  if (peer->follow && m >= INNER_SIZE) {
    if (inner[0] == KIND_DATA || (from != NULL && !peer->path_tcp)) {
      follow(p, peer, from, q);
    } else if (from != NULL && !same_addr(peer, from)) {
      // A control packet over UDP while data goes over TCP (a client probing UDP): its address is
      // kept for replies sent with forceUdp, and the data path stays where DATA last came from.
      set_addr(peer, from);
    }
  }
  if (m < INNER_SIZE || inner[1] != 0) return plane_drop(p, peer, D_MALFORMED); // no flags on the tunnel (no compression)
  size_t body = (size_t)m - INNER_SIZE;
  if (inner[0] != KIND_DATA) {
    event_t *e = plane_event(p, q, "control", peer->id);
    if (e != NULL && napi_create_uint32(p->env, inner[0], &e->argv[0]) == napi_ok &&
        (e->argv[1] = plane_copy(p, inner + INNER_SIZE, body)) != NULL && (e->argv[2] = plane_from(p, from)) != NULL)
      e->argc = 3;
    return;
  }
  if (body > p->max_packet) return plane_drop(p, peer, D_TOO_BIG);
  if (p->tap) deliver_frame(p, peer, buf, body, q);
  else deliver_ip(p, peer, buf, body, q);
}

// A poll handle stopped by an error (libuv stops it on POLLERR) starts again:
// an ICMP error on the socket must not end the tunnel.
static void recover(uv_poll_t *h, int status, int fd, uv_poll_cb cb) {
  int err;
  socklen_t l = sizeof err;
  if (status >= 0) return;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l); // reading SO_ERROR clears it
  uv_poll_start(h, UV_READABLE, cb);
}

// Offload: one read of n bytes in gso_buf (vnet header, then a packet or a TCP super-packet),
// each packet copied into the next free batch buffer (`used` of them hold packets not yet
// flushed; all are free again after a flush). The new `used`; *made counts the packets.
static int from_tun_offload(plane_t *p, size_t n, int used, int *made) {
  uint8_t *pkt = p->gso_buf + VNET_HDR_SIZE;
  gso_t g;
  int kind = n < VNET_HDR_SIZE ? -1 : gso_parse(p->gso_buf, pkt, n - VNET_HDR_SIZE, &g);
  if (kind < 0) return plane_drop(p, NULL, D_MALFORMED), used;
  if (kind == 0) g.count = 1, g.hdr = n - VNET_HDR_SIZE, g.mss = 0;
  if (g.hdr + g.mss > p->max_packet) return plane_drop(p, NULL, D_TOO_BIG), used;
  for (size_t i = 0; i < g.count; i++) {
    if (used == p->batch) plane_flush(p), used = 0;
    uint8_t *buf = p->tun_bufs + (size_t)used++ * p->tun_buf_size, *out = buf + HEADER_SIZE + INNER_SIZE;
    if (kind == 0) memcpy(out, pkt, g.hdr);
    from_tun(p, buf, kind == 0 ? g.hdr : gso_segment(&g, pkt, i, out), &p->evq);
  }
  *made += (int)g.count;
  return used;
}

// Up to `batch` reads, and with offload up to 4 x `batch` packets, per wake-up: the
// rest waits for the next one, so the UDP side and JS get their turn.
void plane_on_tun(uv_poll_t *h, int status, int events) {
  (void)events;
  plane_t *p = h->data;
  napi_handle_scope scope;
  recover(h, status, p->tun_fd, plane_on_tun);
  if (napi_open_handle_scope(p->env, &scope) != napi_ok) return;
  for (int i = 0, used = 0, made = 0; i < p->batch && made < 4 * p->batch; i++) {
    uint8_t *buf = p->tun_bufs + (size_t)i * p->tun_buf_size;
    ssize_t n = p->offload ? read(p->tun_fd, p->gso_buf, GSO_BUF_SIZE)
                           : read(p->tun_fd, buf + HEADER_SIZE + INNER_SIZE, p->max_packet + 1); // + 1: tells too big from full size
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break; // drained; the rest waits for the next wake-up
    if (n <= 0) { // the device is gone (EOF, EIO, EBADFD): stop, or the poll would spin
      uv_poll_stop(h);
      event_t *e = plane_event(p, &p->evq, "down", 0);
      if (e != NULL && napi_create_string_utf8(p->env, n == 0 ? "end of file" : strerror(errno), NAPI_AUTO_LENGTH, &e->argv[0]) == napi_ok) e->argc = 1;
      break;
    }
    if (p->offload) used = from_tun_offload(p, (size_t)n, used, &made);
    else from_tun(p, buf, (size_t)n, &p->evq);
  }
  plane_flush(p);
  plane_dispatch(p, &p->evq);
  napi_close_handle_scope(p->env, scope);
}

void plane_on_udp(uv_poll_t *h, int status, int events) {
  (void)events;
  plane_t *p = h->data;
  napi_handle_scope scope;
  recover(h, status, p->udp_fd, plane_on_udp);
  if (napi_open_handle_scope(p->env, &scope) != napi_ok) return;
  for (int i = 0; i < p->batch; i++) {
    p->rx_iov[i] = (struct iovec){p->rx_bufs + (size_t)i * RX_BUF_SIZE, RX_BUF_SIZE};
    p->rx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &p->rx_addr[i], .msg_namelen = sizeof p->rx_addr[i], .msg_iov = &p->rx_iov[i], .msg_iovlen = 1};
  }
  int n = recvmmsg(p->udp_fd, p->rx_msgs, (unsigned)p->batch, MSG_DONTWAIT, NULL);
  for (int i = 0; i < n; i++) {
    if (p->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
      plane_drop(p, NULL, D_TOO_BIG);
      continue;
    }
    plane_receive(p, p->rx_iov[i].iov_base, p->rx_msgs[i].msg_len, &p->rx_addr[i], &p->evq);
  }
  plane_flush(p);
  plane_dispatch(p, &p->evq);
  napi_close_handle_scope(p->env, scope);
}
