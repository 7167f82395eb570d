// The data plane's file descriptors: a TUN/TAP device and a UDP socket, both
// nonblocking (the plane polls them on Node's loop). JS owns the fds it gets
// (it closes them with fs.closeSync after planeClose).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "addon.h"
#include "args.h"
#include "gso.h"

// Socket buffers: a burst of 64-packet batches must not overflow them.
#define SOCKET_BUFFER (4 * 1024 * 1024)

static napi_value fd_result(napi_env env, int fd, const char *key, napi_value extra) {
  napi_value out, v;
  if (napi_create_object(env, &out) != napi_ok || napi_create_int32(env, fd, &v) != napi_ok ||
      napi_set_named_property(env, out, "fd", v) != napi_ok || napi_set_named_property(env, out, key, extra) != napi_ok) {
    close(fd);
    return NULL;
  }
  return out;
}

// Offloads asked of the kernel: checksums and TCP segmentation (gso.h); no UDP (UFO/USO).
static int set_offload(int fd) {
  int size = VNET_HDR_SIZE;
  return ioctl(fd, TUNSETVNETHDRSZ, &size) == 0 && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0;
}

// tunOpen(name: string, tap: boolean, offload?: boolean) -> { fd, name }; '' lets the kernel
// number an insel%d. offload (TUN only): every read and write starts with a virtio_net_hdr.
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], v;
  char name[IFNAMSIZ];
  bool tap, offload = false;
  napi_valuetype t;
  struct ifreq ifr;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return fail(env, 0, "tunOpen(name, tap)");
  if (!get_string(env, argv[0], name, sizeof name, "name must be a string of at most 15 bytes") ||
      !get_bool(env, argv[1], &tap, "tap must be a boolean"))
    return NULL;
  if (argc > 2 && napi_typeof(env, argv[2], &t) == napi_ok && t != napi_undefined && !get_bool(env, argv[2], &offload, "offload must be a boolean")) return NULL;
  if (offload && tap) return fail(env, 1, "offload is for TUN devices only");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail_errno(env, errno, "open", "cannot open /dev/net/tun");
  memset(&ifr, 0, sizeof ifr);
  // IFF_NO_PI: packets without the 4-byte protocol header, as they go on the wire.
  ifr.ifr_flags = (short)((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0));
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name[0] ? name : "insel%d");
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return fail_errno(env, err, "ioctl", "TUNSETIFF refused");
  }
  if (offload && !set_offload(fd)) {
    int err = errno;
    close(fd);
    return fail_errno(env, err, "ioctl", "TUNSETOFFLOAD refused");
  }
  if (napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &v) != napi_ok) return close(fd), NULL;
  return fd_result(env, fd, "name", v);
}

static int set_buffer(int fd, int force, int plain) {
  int size = SOCKET_BUFFER;
  // FORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; plain is capped by it.
  if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof size) == 0) return 0;
  return setsockopt(fd, SOL_SOCKET, plain, &size, sizeof size);
}

// udpOpen(host, port) -> { fd, port }: unconnected (a connected socket's ICMP
// errors raise POLLERR), v4 or v6 by host, dual-stack on '::'.
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], v;
  char host[INET6_ADDRSTRLEN];
  uint32_t port;
  struct sockaddr_storage ss;
  socklen_t sl;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return fail(env, 0, "udpOpen(host, port)");
  if (!get_string(env, argv[0], host, sizeof host, "host must be an IP address") ||
      !get_u32(env, argv[1], &port, "port must be an integer in [0, 65535]"))
    return NULL;
  if (port > 65535) return fail(env, 1, "port must be an integer in [0, 65535]");
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET, s4->sin_port = htons((uint16_t)port), sl = sizeof *s4;
  } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6, s6->sin6_port = htons((uint16_t)port), sl = sizeof *s6;
  } else {
    return fail(env, 1, "host must be an IPv4 or IPv6 address");
  }
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno(env, errno, "socket", "cannot create a UDP socket");
  int off = 0;
  if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off); // '::' takes IPv4 too
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
  // Never fragment (RFC 8899 §3): DF on every datagram and the kernel's ICMP-fed
  // PMTU cache ignored, so a probe larger than the path is lost, not fragmented
  // and reassembled into a false "fits"; one larger than the local link fails
  // with EMSGSIZE (counted as send_failed). A '::' socket sends IPv4 too.
  int probe4 = IP_PMTUDISC_PROBE, probe6 = IPV6_PMTUDISC_PROBE;
  setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe4, sizeof probe4);
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe6, sizeof probe6);
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
    int err = errno;
    close(fd);
    return fail_errno(env, err, "bind", "cannot bind the UDP socket");
  }
  if (napi_create_uint32(env, ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port), &v) != napi_ok) return close(fd), NULL;
  return fd_result(env, fd, "port", v);
}

// testPacketPair() -> [fdA, fdB]: a SEQPACKET socketpair keeps packet
// boundaries like a TUN fd, so tests run the plane for real without root.
static napi_value test_packet_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  napi_value out, a, b;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
    return fail_errno(env, errno, "socketpair", "cannot create a packet pair");
  CALL(env, napi_create_array_with_length(env, 2, &out));
  CALL(env, napi_create_int32(env, fds[0], &a));
  CALL(env, napi_create_int32(env, fds[1], &b));
  CALL(env, napi_set_element(env, out, 0, a));
  CALL(env, napi_set_element(env, out, 1, b));
  return out;
}

napi_status tun_register(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"tunOpen", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"testPacketPair", NULL, test_packet_pair, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
}
