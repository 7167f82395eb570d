// The data plane's JS face (plane.h): create and close, peers and their
// keys and paths, stats, and the events it sends to JS. The per-packet work
// is in plane-io.c. All of it runs on Node's main thread: no locks.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "addon.h"
#include "args.h"
#include "plane.h"

const char *const DROP_NAMES[D_COUNT] = {
    "truncated", "bad_type", "unknown_channel", "stale_epoch", "replay", "too_old", "auth_failed", "malformed",
    "spoofed_source", "no_route", "c2c_denied", "too_big", "send_failed", "no_key", "event_overflow"};

static const napi_type_tag PLANE_TAG = {0x696e73656c706c61ULL, 0x6e65646174617061ULL};

// ---- Tables -----------------------------------------------------------------

void key_u32(uint8_t key[16], uint32_t v) {
  memset(key, 0, 16);
  memcpy(key, &v, 4);
}

// Seeded per plane, so no one can pick channel ids or addresses that collide.
static size_t hash(const plane_t *p, const uint8_t *k, size_t n) {
  uint64_t h = p->seed;
  for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 0x100000001b3ULL;
  return (size_t)(h ^ h >> 32);
}

peer_t *plane_find(const plane_t *p, int t, const uint8_t key[16]) {
  for (peer_t *e = p->table[t][hash(p, key, 16) & (HASH_SIZE - 1)]; e != NULL; e = e->chain[t])
    if (memcmp(e->key[t], key, 16) == 0) return e;
  return NULL;
}

static void link_peer(plane_t *p, int t, peer_t *e) {
  size_t b = hash(p, e->key[t], 16) & (HASH_SIZE - 1);
  e->chain[t] = p->table[t][b], p->table[t][b] = e, e->in[t] = 1;
}

static void unlink_peer(plane_t *p, int t, peer_t *e) {
  if (!e->in[t]) return;
  peer_t **pp = &p->table[t][hash(p, e->key[t], 16) & (HASH_SIZE - 1)];
  while (*pp != e) pp = &(*pp)->chain[t];
  *pp = e->chain[t];
}

mac_entry_t *plane_mac_slot(plane_t *p, const uint8_t mac[6]) { return &p->macs[hash(p, mac, 6) & (MAC_SLOTS - 1)]; }

void plane_drop(plane_t *p, peer_t *peer, int reason) {
  p->stats.drops[reason]++;
  if (peer != NULL) peer->stats.drops[reason]++;
}

// ---- Events -----------------------------------------------------------------

event_t *plane_event(plane_t *p, evq_t *q, const char *type, uint32_t id) {
  if (q->n == q->cap) return plane_drop(p, NULL, D_EVENT_OVERFLOW), NULL;
  event_t *e = &q->items[q->n++];
  e->type = type, e->id = id, e->argc = 0;
  return e;
}

napi_value plane_copy(plane_t *p, const uint8_t *data, size_t len) {
  napi_value out;
  void *copy;
  return napi_create_buffer_copy(p->env, len, data, &copy, &out) == napi_ok ? out : NULL;
}

static void format_from(const struct sockaddr_storage *from, char *out, size_t size) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (from == NULL) {
    snprintf(out, size, "tcp");
  } else if (from->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const void *)from;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    snprintf(out, size, "%s:%u", host, ntohs(a->sin_port));
  } else {
    const struct sockaddr_in6 *a = (const void *)from;
    int mapped = IN6_IS_ADDR_V4MAPPED(&a->sin6_addr); // an IPv4 peer on a dual-stack socket
    inet_ntop(mapped ? AF_INET : AF_INET6, mapped ? (const void *)&a->sin6_addr.s6_addr[12] : &a->sin6_addr, host, sizeof host);
    snprintf(out, size, mapped ? "%s:%u" : "[%s]:%u", host, ntohs(a->sin6_port));
  }
}

// "host:port" ("[v6]:port"), or "tcp" for NULL.
napi_value plane_from(plane_t *p, const struct sockaddr_storage *from) {
  char text[INET6_ADDRSTRLEN + 16];
  napi_value out;
  format_from(from, text, sizeof text);
  return napi_create_string_utf8(p->env, text, NAPI_AUTO_LENGTH, &out) == napi_ok ? out : NULL;
}

// Calls onEvent(type, id, ...args) for each queued event. napi_make_callback
// runs the microtasks and nextTicks JS expects after a callback from the loop;
// an exception thrown by onEvent is cleared here: the plane keeps running.
void plane_dispatch(plane_t *p, evq_t *q) {
  napi_env env = p->env;
  napi_value fn, global, args[5], result;
  size_t n = q->n;
  q->n = 0;
  if (n == 0 || napi_get_reference_value(env, p->on_event, &fn) != napi_ok || napi_get_global(env, &global) != napi_ok) return;
  for (size_t i = 0; i < n && !p->closed; i++) { // onEvent may close the plane
    event_t *e = &q->items[i];
    if (napi_create_string_utf8(env, e->type, NAPI_AUTO_LENGTH, &args[0]) != napi_ok || napi_create_uint32(env, e->id, &args[1]) != napi_ok) break;
    memcpy(args + 2, e->argv, sizeof(napi_value) * (size_t)e->argc);
    if (napi_make_callback(env, p->async, global, fn, 2 + (size_t)e->argc, args, &result) != napi_ok) {
      bool pending = false;
      napi_value ex;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ex);
    }
  }
}

// ---- Lifetime ---------------------------------------------------------------

static void free_peer(peer_t *e) {
  aead_release(&e->send);
  for (int s = 0; s < SLOTS; s++) aead_release(&e->slot[s].aead);
  OPENSSL_clear_free(e, sizeof *e); // addresses and counters too
}

// The batch buffers (4 MiB and more) go at close, not when the GC gets to the handle.
static void free_buffers(plane_t *p) {
  if (p->scratch != NULL) OPENSSL_cleanse(p->scratch, RX_BUF_SIZE); // control bodies; packets were sealed or the peer's
  if (p->gso_buf != NULL) OPENSSL_cleanse(p->gso_buf, GSO_BUF_SIZE); // plaintext, like the batch buffers' last packets
  free(p->tun_bufs), free(p->rx_bufs), free(p->scratch), free(p->gso_buf);
  free(p->rx_msgs), free(p->tx_msgs), free(p->rx_iov), free(p->tx_iov), free(p->rx_addr), free(p->tx_peer), free(p->evq.items);
  p->tun_bufs = p->rx_bufs = p->scratch = p->gso_buf = NULL;
  p->rx_msgs = p->tx_msgs = NULL, p->rx_iov = p->tx_iov = NULL, p->rx_addr = NULL, p->tx_peer = NULL, p->evq.items = NULL;
}

static void unref(plane_t *p) {
  if (--p->refs > 0) return;
  free_buffers(p);
  OPENSSL_clear_free(p, sizeof *p);
}

static void on_closed(uv_handle_t *h) { unref(h->data); }

// Stops the polls, wipes every key and frees the peers; the plane's memory
// goes when the handles have closed and JS dropped the handle.
static void plane_close(plane_t *p) {
  if (p->closed) return;
  p->closed = 1;
  uv_close((uv_handle_t *)&p->tun_poll, on_closed);
  uv_close((uv_handle_t *)&p->udp_poll, on_closed);
  for (peer_t *e = p->all, *next; e != NULL; e = next) next = e->next, free_peer(e);
  p->all = p->default_peer = NULL;
  memset(p->table, 0, sizeof p->table), memset(p->macs, 0, sizeof p->macs);
  free_buffers(p); // nothing runs the pipeline again: the polls are closing and every function checks `closed`
  napi_delete_reference(p->env, p->on_event);
  napi_async_destroy(p->env, p->async);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  plane_close(data);
  unref(data);
}

// ---- Arguments --------------------------------------------------------------

static plane_t *get_plane(napi_env env, napi_value v) {
  napi_valuetype t;
  bool ours = false;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_check_object_type_tag(env, v, &PLANE_TAG, &ours) != napi_ok || !ours)
    return fail(env, 0, "not a plane from planeCreate()"), NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  if (((plane_t *)data)->closed) return fail(env, 0, "the plane is closed"), NULL;
  return data;
}

// (plane, peerId, ...rest): the plane, the peer (need = 1: must exist) and the arguments.
static int get_args(napi_env env, napi_callback_info info, const char *usage, size_t want, napi_value *argv, plane_t **p, peer_t **peer, int need) {
  size_t argc = want;
  uint32_t id;
  uint8_t key[16];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < want) return fail(env, 0, usage), 0;
  if ((*p = get_plane(env, argv[0])) == NULL) return 0;
  if (peer == NULL) return 1;
  if (!get_u32(env, argv[1], &id, "peerId must be a u32")) return 0;
  key_u32(key, id);
  *peer = plane_find(*p, T_ID, key);
  if (*peer == NULL && need) return fail(env, 1, "no such peer"), 0;
  return 1;
}

static int get_int_prop(napi_env env, napi_value o, const char *name, uint32_t min, uint32_t max, uint32_t *out) {
  napi_value v;
  int present;
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be an integer in [%u, %u]", name, min, max);
  if (!get_prop(env, o, name, &v, &present)) return 0;
  if (!present || !get_u32(env, v, out, msg)) return present ? 0 : (fail(env, 0, msg), 0);
  if (*out < min || *out > max) return fail(env, 1, msg), 0;
  return 1;
}

static int get_bool_prop(napi_env env, napi_value o, const char *name, bool *out) {
  napi_value v;
  int present;
  *out = false;
  if (!get_prop(env, o, name, &v, &present)) return 0;
  return !present || get_bool(env, v, out, "flags must be booleans");
}

// A host string and port as the socket's family wants it (IPv4 mapped on a dual-stack socket).
static int parse_addr(plane_t *p, const char *host, uint32_t port, struct sockaddr_storage *ss, socklen_t *len) {
  struct sockaddr_in *s4 = (void *)ss;
  struct sockaddr_in6 *s6 = (void *)ss;
  uint8_t a4[4];
  memset(ss, 0, sizeof *ss);
  if (p->udp_family == AF_INET) {
    s4->sin_family = AF_INET, s4->sin_port = htons((uint16_t)port), *len = sizeof *s4;
    return inet_pton(AF_INET, host, &s4->sin_addr) == 1;
  }
  s6->sin6_family = AF_INET6, s6->sin6_port = htons((uint16_t)port), *len = sizeof *s6;
  if (inet_pton(AF_INET, host, a4) == 1) {
    s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&s6->sin6_addr.s6_addr[12], a4, 4);
    return 1;
  }
  return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1;
}

// ---- Functions --------------------------------------------------------------

// planeCreate({ tunFd, udpFd, tap, offload?, maxPacket, batch, mss, clientToClient, onEvent }) -> plane
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value o, fn, name, out;
  uint32_t tun_fd, udp_fd, max_packet, batch, mss;
  bool tap, c2c, offload;
  int present;
  napi_valuetype t;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  CALL(env, napi_get_cb_info(env, info, &argc, &o, NULL, NULL));
  if (argc < 1) return fail(env, 0, "planeCreate(options)");
  if (!get_int_prop(env, o, "tunFd", 0, 1 << 30, &tun_fd) || !get_int_prop(env, o, "udpFd", 0, 1 << 30, &udp_fd) ||
      !get_int_prop(env, o, "maxPacket", 64, RX_BUF_SIZE - OVERHEAD - 1, &max_packet) || !get_int_prop(env, o, "batch", 1, 256, &batch) ||
      !get_int_prop(env, o, "mss", 0, 65535, &mss) || !get_bool_prop(env, o, "tap", &tap) || !get_bool_prop(env, o, "clientToClient", &c2c) ||
      !get_bool_prop(env, o, "offload", &offload) ||
      !get_prop(env, o, "onEvent", &fn, &present))
    return NULL;
  if (!present || napi_typeof(env, fn, &t) != napi_ok || t != napi_function) return fail(env, 0, "onEvent must be a function");
  if (offload && tap) return fail(env, 1, "offload is for TUN devices (IP packets), not TAP");
  if (getsockname((int)udp_fd, (struct sockaddr *)&ss, &sl) < 0 || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
    return fail(env, 1, "udpFd must be a UDP socket from udpOpen()");

  // The pipeline must never block Node's loop, whoever opened the fds.
  for (int i = 0; i < 2; i++) {
    int fd = (int)(i ? udp_fd : tun_fd), fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return fail(env, 1, "tunFd and udpFd must be open file descriptors");
  }
  plane_t *p = calloc(1, sizeof *p);
  if (p == NULL) return fail(env, 1, "out of memory");
  p->env = env, p->tun_fd = (int)tun_fd, p->udp_fd = (int)udp_fd, p->udp_family = ss.ss_family;
  p->tap = tap, p->c2c = c2c, p->offload = offload, p->batch = (int)batch, p->mss = (uint16_t)mss, p->max_packet = max_packet;
  p->tun_buf_size = (OVERHEAD + max_packet + 1 + 15) & ~(size_t)15;
  p->evq.cap = (size_t)batch * 4 + 16; // a datagram makes at most 3 events (promoted, path, control)
  p->tun_bufs = malloc(batch * p->tun_buf_size), p->rx_bufs = malloc(batch * (size_t)RX_BUF_SIZE), p->scratch = malloc(RX_BUF_SIZE);
  p->rx_msgs = calloc(batch, sizeof *p->rx_msgs), p->tx_msgs = calloc(batch, sizeof *p->tx_msgs);
  p->rx_iov = calloc(batch, sizeof *p->rx_iov), p->tx_iov = calloc(batch, sizeof *p->tx_iov);
  p->rx_addr = calloc(batch, sizeof *p->rx_addr), p->tx_peer = calloc(batch, sizeof *p->tx_peer);
  p->evq.items = calloc(p->evq.cap, sizeof *p->evq.items);
  p->gso_buf = offload ? malloc(GSO_BUF_SIZE) : NULL;
  p->refs = 1;
  if (!p->tun_bufs || !p->rx_bufs || !p->scratch || !p->rx_msgs || !p->tx_msgs || !p->rx_iov || !p->tx_iov || !p->rx_addr || !p->tx_peer ||
      !p->evq.items || (offload && !p->gso_buf) || RAND_bytes((unsigned char *)&p->seed, sizeof p->seed) != 1)
    return unref(p), fail(env, 1, "out of memory");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &p->tun_poll, p->tun_fd) != 0) return unref(p), fail(env, 1, "cannot poll tunFd");
  if (uv_poll_init(loop, &p->udp_poll, p->udp_fd) != 0) {
    p->tun_poll.data = p, p->refs++;
    uv_close((uv_handle_t *)&p->tun_poll, on_closed);
    return unref(p), fail(env, 1, "cannot poll udpFd");
  }
  p->tun_poll.data = p->udp_poll.data = p;
  p->refs += 2;
  if (napi_create_reference(env, fn, 1, &p->on_event) != napi_ok || napi_create_string_utf8(env, "insel.plane", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &p->async) != napi_ok || napi_create_external(env, p, finalize, NULL, &out) != napi_ok) {
    plane_close(p), unref(p);
    return NULL;
  }
  CALL(env, napi_type_tag_object(env, out, &PLANE_TAG));
  if (uv_poll_start(&p->tun_poll, UV_READABLE, plane_on_tun) != 0 || uv_poll_start(&p->udp_poll, UV_READABLE, plane_on_udp) != 0) {
    plane_close(p); // the external's finalizer drops the last reference
    return fail(env, 1, "tunFd and udpFd must be pollable (a TUN/TAP device or packet socket, and a UDP socket)");
  }
  return out;
}

static int get_vip(napi_env env, napi_value o, const char *name, int family, uint8_t key[16], int *present) {
  napi_value v;
  char text[INET6_ADDRSTRLEN];
  memset(key, 0, 16);
  if (!get_prop(env, o, name, &v, present)) return 0;
  if (!*present) return 1;
  if (!get_string(env, v, text, sizeof text, "vip4/vip6 must be addresses") || inet_pton(family, text, key) != 1)
    return fail(env, 1, family == AF_INET ? "vip4 must be an IPv4 address" : "vip6 must be an IPv6 address"), 0;
  return 1;
}

// planeAddPeer(p, peerId, { recvId, sendId, aead, vip4?, vip6?, isDefault?, follow })
static napi_value add_peer(napi_env env, napi_callback_info info) {
  napi_value argv[3], v;
  plane_t *p;
  peer_t *old, e = {0};
  uint32_t id, recv_id;
  char aead[32];
  int present, has4, has6;
  bool is_default, follow;
  if (!get_args(env, info, "planeAddPeer(plane, peerId, options)", 3, argv, &p, &old, 0)) return NULL;
  if (old != NULL) return fail(env, 1, "peerId already in use");
  get_u32(env, argv[1], &id, "peerId must be a u32");
  if (!get_int_prop(env, argv[2], "recvId", 0, UINT32_MAX, &recv_id) || !get_int_prop(env, argv[2], "sendId", 0, UINT32_MAX, &e.send_id) ||
      !get_prop(env, argv[2], "aead", &v, &present) || !get_string(env, v, aead, sizeof aead, "aead must be a string") ||
      !get_vip(env, argv[2], "vip4", AF_INET, e.key[T_VIP4], &has4) || !get_vip(env, argv[2], "vip6", AF_INET6, e.key[T_VIP6], &has6) ||
      !get_bool_prop(env, argv[2], "isDefault", &is_default) || !get_bool_prop(env, argv[2], "follow", &follow))
    return NULL;
  if ((e.cipher = aead_cipher(aead)) == NULL) return fail(env, 1, "aead must be aes-256-gcm or chacha20-poly1305");
  key_u32(e.key[T_ID], id), key_u32(e.key[T_RECV], recv_id);
  if (plane_find(p, T_RECV, e.key[T_RECV])) return fail(env, 1, "recvId already in use");
  if ((has4 && plane_find(p, T_VIP4, e.key[T_VIP4])) || (has6 && plane_find(p, T_VIP6, e.key[T_VIP6]))) return fail(env, 1, "vip already in use");
  if (is_default && p->default_peer != NULL) return fail(env, 1, "there is a default peer already");
  peer_t *n = calloc(1, sizeof *n);
  if (n == NULL) return fail(env, 1, "out of memory");
  *n = e;
  n->id = id, n->is_default = is_default, n->follow = follow;
  for (int t = 0; t < TABLES; t++)
    if (t < T_VIP4 || (t == T_VIP4 && has4) || (t == T_VIP6 && has6)) link_peer(p, t, n);
  n->next = p->all, p->all = n;
  if (is_default) p->default_peer = n;
  return NULL;
}

// planeRemovePeer(p, peerId): wipes its keys; an unknown id is no error.
static napi_value remove_peer(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  plane_t *p;
  peer_t *e;
  if (!get_args(env, info, "planeRemovePeer(plane, peerId)", 2, argv, &p, &e, 0) || e == NULL) return NULL;
  for (int t = 0; t < TABLES; t++) unlink_peer(p, t, e);
  peer_t **pp = &p->all;
  while (*pp != e) pp = &(*pp)->next;
  *pp = e->next;
  if (p->default_peer == e) p->default_peer = NULL;
  for (int i = 0; i < MAC_SLOTS; i++)
    if (p->macs[i].peer == e) p->macs[i].peer = NULL;
  free_peer(e);
  return NULL;
}

static int get_key(napi_env env, napi_value key, napi_value iv, uint8_t **k, uint8_t **i) {
  size_t kl, il;
  if (!get_buffer(env, key, k, &kl, "key must be a Buffer") || !get_buffer(env, iv, i, &il, "iv must be a Buffer")) return 0;
  if (kl != AEAD_KEY_SIZE || il != AEAD_NONCE_SIZE) return fail(env, 1, "key must be 32 bytes and iv 12"), 0;
  return 1;
}

// planeSetSendKey(p, peerId, epoch, key, iv, counterStart)
static napi_value set_send_key(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  plane_t *p;
  peer_t *e;
  uint32_t epoch;
  uint8_t *k, *iv;
  double start;
  if (!get_args(env, info, "planeSetSendKey(plane, peerId, epoch, key, iv, counterStart)", 6, argv, &p, &e, 1) || !get_u32(env, argv[2], &epoch, "epoch must be a u32") || !get_key(env, argv[3], argv[4], &k, &iv)) return NULL;
  if (napi_get_value_double(env, argv[5], &start) != napi_ok || !(start >= 0 && start < (double)MAX_COUNTER) || start != (double)(uint64_t)start)
    return fail(env, 1, "counterStart must be an integer in [0, 2^53)");
  aead_release(&e->send);
  if (!aead_init(&e->send, e->cipher, k, iv, 1, 0)) return fail(env, 1, "OpenSSL refused the AEAD key");
  e->send_epoch = (uint8_t)epoch, e->send_counter = (uint64_t)start;
  return NULL;
}

// planeSetRecvKey(p, peerId, 'prev'|'cur'|'next', epoch, key|null, iv|null)
static napi_value set_recv_key(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  plane_t *p;
  peer_t *e;
  char slot[8];
  uint32_t epoch;
  uint8_t *k, *iv;
  napi_valuetype t;
  if (!get_args(env, info, "planeSetRecvKey(plane, peerId, slot, epoch, key, iv)", 6, argv, &p, &e, 1) || !get_string(env, argv[2], slot, sizeof slot, "slot must be 'prev', 'cur' or 'next'") ||
      !get_u32(env, argv[3], &epoch, "epoch must be a u32"))
    return NULL;
  int s = strcmp(slot, "prev") == 0 ? SLOT_PREV : strcmp(slot, "cur") == 0 ? SLOT_CUR : strcmp(slot, "next") == 0 ? SLOT_NEXT : -1;
  if (s < 0) return fail(env, 1, "slot must be 'prev', 'cur' or 'next'");
  CALL(env, napi_typeof(env, argv[4], &t));
  int drop = t == napi_null || t == napi_undefined;
  if (!drop && !get_key(env, argv[4], argv[5], &k, &iv)) return NULL;
  slot_t *sl = &e->slot[s];
  aead_release(&sl->aead);
  memset(sl, 0, sizeof *sl); // a fresh replay window with each key
  sl->epoch = (uint8_t)epoch;
  if (!drop && !aead_init(&sl->aead, e->cipher, k, iv, 0, 0)) return fail(env, 1, "OpenSSL refused the AEAD key");
  return NULL;
}

// planeSetPath(p, peerId, { host, port } | 'tcp')
static napi_value set_path(napi_env env, napi_callback_info info) {
  napi_value argv[3], v;
  plane_t *p;
  peer_t *e;
  napi_valuetype t;
  char host[INET6_ADDRSTRLEN];
  uint32_t port;
  int present;
  if (!get_args(env, info, "planeSetPath(plane, peerId, path)", 3, argv, &p, &e, 1)) return NULL;
  CALL(env, napi_typeof(env, argv[2], &t));
  if (t == napi_string) {
    if (!get_string(env, argv[2], host, sizeof host, "path must be 'tcp' or { host, port }") || strcmp(host, "tcp") != 0)
      return fail(env, 1, "path must be 'tcp' or { host, port }");
    e->path_tcp = 1;
    return NULL;
  }
  if (!get_prop(env, argv[2], "host", &v, &present) || !get_string(env, v, host, sizeof host, "host must be an IP address") ||
      !get_int_prop(env, argv[2], "port", 1, 65535, &port))
    return NULL;
  if (!parse_addr(p, host, port, &e->addr, &e->addrlen)) return fail(env, 1, "host must be an IP address of the UDP socket's family");
  e->has_addr = 1, e->path_tcp = 0;
  return NULL;
}

static napi_value set_mss(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  plane_t *p;
  uint32_t mss;
  if (!get_args(env, info, "planeSetMss(plane, mss)", 2, argv, &p, NULL, 0) || !get_u32(env, argv[1], &mss, "mss must be an integer in [0, 65535]")) return NULL;
  if (mss > 65535) return fail(env, 1, "mss must be an integer in [0, 65535]");
  p->mss = (uint16_t)mss;
  return NULL;
}

static napi_value set_c2c(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  plane_t *p;
  bool on;
  if (!get_args(env, info, "planeSetClientToClient(plane, on)", 2, argv, &p, NULL, 0) || !get_bool(env, argv[1], &on, "clientToClient must be a boolean")) return NULL;
  p->c2c = on;
  return NULL;
}

// planeSendControl(p, peerId, kind, body, padTo, forceUdp) -> handed on?
static napi_value send_control(napi_env env, napi_callback_info info) {
  napi_value argv[6], out;
  plane_t *p;
  peer_t *e;
  uint32_t kind, pad_to;
  uint8_t *body;
  size_t len;
  bool force_udp;
  event_t items[1];
  evq_t q = {items, 0, 1};
  if (!get_args(env, info, "planeSendControl(plane, peerId, kind, body, padTo, forceUdp)", 6, argv, &p, &e, 1) || !get_u32(env, argv[2], &kind, "kind must be a u8") ||
      !get_buffer(env, argv[3], &body, &len, "body must be a Buffer") || !get_u32(env, argv[4], &pad_to, "padTo must be a u32") ||
      !get_bool(env, argv[5], &force_udp, "forceUdp must be a boolean"))
    return NULL;
  if (kind > 255 || len + OVERHEAD > RX_BUF_SIZE - 1 || pad_to > RX_BUF_SIZE - 1) return fail(env, 1, "kind must be a u8, and the datagram at most 65535 bytes");
  size_t inner = INNER_SIZE + len;
  if (pad_to > inner + HEADER_SIZE + AEAD_TAG_SIZE) inner = pad_to - HEADER_SIZE - AEAD_TAG_SIZE; // zero padding inside the AEAD
  uint8_t *buf = p->scratch;
  buf[HEADER_SIZE] = (uint8_t)kind, buf[HEADER_SIZE + 1] = 0;
  memcpy(buf + HEADER_SIZE + INNER_SIZE, body, len);
  memset(buf + HEADER_SIZE + INNER_SIZE + len, 0, inner - INNER_SIZE - len);
  int ok = plane_send(p, e, buf, inner, &q, SEND_NOW | (force_udp ? SEND_UDP : 0));
  plane_dispatch(p, &q);
  CALL(env, napi_get_boolean(env, ok, &out));
  return out;
}

// planeInput(p, datagram): a datagram from the TCP rung, received as if from UDP.
static napi_value input(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  plane_t *p;
  uint8_t *data;
  size_t len;
  event_t items[8];
  evq_t q = {items, 0, 8};
  if (!get_args(env, info, "planeInput(plane, datagram)", 2, argv, &p, NULL, 0) || !get_buffer(env, argv[1], &data, &len, "datagram must be a Buffer")) return NULL;
  if (len > RX_BUF_SIZE) return plane_drop(p, NULL, D_TOO_BIG), NULL;
  // The receive buffers are free between batches; the caller's Buffer stays as it was.
  memcpy(p->rx_bufs, data, len);
  plane_receive(p, p->rx_bufs, len, NULL, &q);
  plane_flush(p);
  plane_dispatch(p, &q);
  return NULL;
}

static int set_num(napi_env env, napi_value o, const char *name, double d) {
  napi_value v;
  return napi_create_double(env, d, &v) == napi_ok && napi_set_named_property(env, o, name, v) == napi_ok;
}

// planeStats(p, peerId?) -> a snapshot; undefined for an unknown peer.
static napi_value stats(napi_env env, napi_callback_info info) {
  napi_value argv[2], out, drops, undef;
  size_t argc = 2;
  plane_t *p;
  peer_t *e = NULL;
  napi_valuetype t;
  uint32_t id;
  uint8_t key[16];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || (p = get_plane(env, argv[0])) == NULL) return argc < 1 ? fail(env, 0, "planeStats(plane, peerId?)") : NULL;
  CALL(env, napi_get_undefined(env, &undef));
  if (argc > 1 && napi_typeof(env, argv[1], &t) == napi_ok && t != napi_undefined) {
    if (!get_u32(env, argv[1], &id, "peerId must be a u32")) return NULL;
    key_u32(key, id);
    if ((e = plane_find(p, T_ID, key)) == NULL) return undef;
  }
  const stats_t *s = e != NULL ? &e->stats : &p->stats;
  uint64_t last = e != NULL ? e->last_rx : p->last_rx, now = uv_now(p->tun_poll.loop);
  CALL(env, napi_create_object(env, &out));
  CALL(env, napi_create_object(env, &drops));
  for (int i = 0; i < D_COUNT; i++)
    if (s->drops[i] && !set_num(env, drops, DROP_NAMES[i], (double)s->drops[i])) return NULL;
  if (!set_num(env, out, "txPackets", (double)s->tx_packets) || !set_num(env, out, "txBytes", (double)s->tx_bytes) ||
      !set_num(env, out, "rxPackets", (double)s->rx_packets) || !set_num(env, out, "rxBytes", (double)s->rx_bytes) ||
      !set_num(env, out, "sendEpoch", e != NULL ? e->send_epoch : -1) || !set_num(env, out, "sendCounter", e != NULL ? (double)e->send_counter : 0) ||
      !set_num(env, out, "lastRxMs", s->rx_packets ? (double)(now - last) : -1) || napi_set_named_property(env, out, "drops", drops) != napi_ok)
    return NULL;
  return out;
}

static napi_value close_plane(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data;
  napi_valuetype t;
  bool ours = false;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  // Closing twice is harmless, like fs handles.
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_check_object_type_tag(env, argv[0], &PLANE_TAG, &ours) != napi_ok || !ours)
    return fail(env, 0, "not a plane from planeCreate()");
  CALL(env, napi_get_value_external(env, argv[0], &data));
  plane_close(data);
  return NULL;
}

napi_status plane_register(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"planeCreate", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeAddPeer", NULL, add_peer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeRemovePeer", NULL, remove_peer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeSetSendKey", NULL, set_send_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeSetRecvKey", NULL, set_recv_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeSetPath", NULL, set_path, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeSetMss", NULL, set_mss, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeSetClientToClient", NULL, set_c2c, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeSendControl", NULL, send_control, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeInput", NULL, input, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeStats", NULL, stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"planeClose", NULL, close_plane, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
}
