/*
 * mptcp-probe: the one privileged piece of MPTCP Studio's Path doctor (docs/path-doctor.md).
 *
 * Wireshark's dumpcap model: a tiny program that holds CAP_NET_RAW (root, or file capabilities:
 * `setcap cap_net_raw+ep mptcp-probe`) so nothing else has to. It builds and parses nothing:
 * packets are built and decoded in TypeScript (shared/packet/). It only moves bytes, and it
 * enforces the rules that must hold whoever drives it:
 *   - it sends TCP only (IPv4 without IP options, IPv6 without extension headers);
 *   - from this host's own addresses only (no spoofing);
 *   - never to a multicast, broadcast (limited or an interface's directed broadcast),
 *     unspecified, "this network" or class-E address;
 *   - at most --rate packets per second, and never above MAX_PPS whatever it is told;
 *   - it drops every capability right after opening its sockets.
 *
 *   raw [--rate PPS] [--burst N]
 *                             framed packet I/O on stdin/stdout (below)
 *   connect [--timeout-ms T] [--concurrency N]
 *                             unprivileged: IPPROTO_MPTCP connect to each "ADDR PORT" line of
 *                             stdin, one JSON line per target (see run_connect)
 *   echo PORT [tcp] [6]       an MPTCP (or plain TCP) echo server: the Path doctor's
 *                             responder and the lab's listeners
 *   check                     unprivileged: the client end of the subflow check, one
 *                             connection driven by line commands (see mptcp-probe-check.h)
 *
 * Frames, both directions: u32 length (big-endian, of what follows), u8 type, body.
 *   to the helper:   1 SEND  u32 tag, u32 ifindex (0 = by route), IP packet
 *                    2 SRC?  u32 tag, u32 ifindex, destination address (4 or 16 bytes)
 *                    3 ADDRS u32 tag
 *   from the helper: 0x80 HELLO u32 max pps, u32 rate pps
 *                    0x81 SENT  u32 tag, u64 time ns (CLOCK_REALTIME), i32 errno (0 = sent)
 *                    0x82 RECV  u64 kernel receive time ns, u32 ifindex, IP packet
 *                    0x83 SRC   u32 tag, i32 errno, address
 *                    0x84 ADDRS u32 tag, text: "ifindex name address\n" per address
 *                    0x85 NOTE  text (why a packet was refused)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif
#define MPTCP_INFO 1
#define TCP_IS_MPTCP_OPT 43 /* include/uapi/linux/tcp.h, Linux 6.10+ */

/* The ceiling no caller can raise: docs/path-doctor.md "Rate limits". */
#define MAX_PPS 100000
#define MAX_BURST 64
#define MAX_PKT 1500

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- framing ----------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }

static uint8_t outbuf[1 << 16];
static size_t outlen;
static void flush_out(void) {
  size_t off = 0;
  while (off < outlen) {
    ssize_t w = write(1, outbuf + off, outlen - off);
    if (w < 0) { if (errno == EINTR) continue; exit(0); }
    off += (size_t)w;
  }
  outlen = 0;
}
static void frame(uint8_t type, const void *a, size_t alen, const void *b, size_t blen) {
  if (outlen + 5 + alen + blen > sizeof outbuf) flush_out();
  put32(outbuf + outlen, (uint32_t)(1 + alen + blen));
  outbuf[outlen + 4] = type;
  memcpy(outbuf + outlen + 5, a, alen);
  if (blen) memcpy(outbuf + outlen + 5 + alen, b, blen);
  outlen += 5 + alen + blen;
}
static void note(const char *msg) { frame(0x85, msg, strlen(msg), NULL, 0); }

/* --- what may be sent -------------------------------------------------------------------- */

struct local { int family; uint8_t addr[16]; uint8_t bcast[4], net[4]; int has_bcast; };
static struct local locals[256];
static int nlocals;

static void load_locals(void) {
  struct ifaddrs *ifa, *i;
  nlocals = 0;
  if (getifaddrs(&ifa) < 0) return;
  for (i = ifa; i && nlocals < 256; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    struct local *l = &locals[nlocals];
    memset(l, 0, sizeof *l);
    if (i->ifa_addr->sa_family == AF_INET) {
      l->family = AF_INET;
      memcpy(l->addr, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
      /* The subnet's directed broadcast from address and netmask: `ip addr add A/24` sets no
         explicit broadcast address, yet the kernel routes A|~mask as broadcast. */
      if (i->ifa_netmask) {
        uint32_t a, m;
        memcpy(&a, l->addr, 4);
        memcpy(&m, &((struct sockaddr_in *)i->ifa_netmask)->sin_addr, 4);
        if (ntohl(m) < 0xfffffffeu) {
          uint32_t b = a | ~m, net = a & m;
          memcpy(l->bcast, &b, 4);
          memcpy(l->net, &net, 4);
          l->has_bcast = 1;
        }
      }
      nlocals++;
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      l->family = AF_INET6;
      memcpy(l->addr, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
      nlocals++;
    }
  }
  freeifaddrs(ifa);
}

static int is_local(int family, const uint8_t *a) {
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < nlocals; i++)
      if (locals[i].family == family && memcmp(locals[i].addr, a, family == AF_INET ? 4 : 16) == 0) return 1;
    load_locals(); /* an address added since we started */
  }
  return 0;
}

/* Why `dst` must not be a target, or NULL. Mirrors shared/packet/addr.ts forbiddenTargetReason. */
static const char *forbidden4(const uint8_t *d) {
  if (d[0] == 255 && d[1] == 255 && d[2] == 255 && d[3] == 255) return "limited broadcast";
  if (d[0] >= 224 && d[0] <= 239) return "multicast";
  if (d[0] >= 240) return "reserved (class E)";
  if (d[0] == 0) return "\"this network\" (0/8)";
  for (int i = 0; i < nlocals; i++)
    if (locals[i].family == AF_INET && locals[i].has_bcast &&
        (memcmp(locals[i].bcast, d, 4) == 0 || memcmp(locals[i].net, d, 4) == 0))
      return "an interface's directed broadcast"; /* all-ones, or the old all-zeros form (RFC 919) */
  return NULL;
}
static const char *forbidden6(const uint8_t *d) {
  static const uint8_t zero[16];
  if (d[0] == 0xff) return "multicast";
  if (memcmp(d, zero, 16) == 0) return "unspecified";
  return NULL;
}

/* --- raw mode ---------------------------------------------------------------------------- */

static int s4 = -1, s6 = -1, rx = -1, udp4 = -1, udp6 = -1;

static int attach_filter(int fd) {
  /* Incoming IPv4 TCP/ICMP and IPv6 TCP/ICMPv6 only: the probe never needs anything else. */
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 11, 0),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
      BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 3),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 5, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 4, 5),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 4),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, MAX_PKT + 100),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

static void drop_capabilities(void) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capset, &h, d) < 0) perror("mptcp-probe: capset");
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* Validate and send one IP packet; returns 0 or an errno (EPERM = refused by policy). */
static int send_packet(const uint8_t *p, size_t n, uint32_t ifindex) {
  char why[160];
  if (n < 20 || n > MAX_PKT) return EMSGSIZE;
  int v = p[0] >> 4;
  char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
  memset(cbuf, 0, sizeof cbuf);
  struct msghdr m = {0};
  struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  struct cmsghdr *c = (struct cmsghdr *)cbuf;
  if (v == 4) {
    if ((p[0] & 0x0f) != 5 || p[9] != IPPROTO_TCP || ((size_t)p[2] << 8 | p[3]) != n || n < 40) {
      note("refused: only IPv4 TCP without IP options, with a consistent length");
      return EPERM;
    }
    const char *f = forbidden4(p + 16);
    if (f) { snprintf(why, sizeof why, "refused: destination is %s", f); note(why); return EPERM; }
    if (!is_local(AF_INET, p + 12)) { note("refused: source is not an address of this host"); return EPERM; }
    struct sockaddr_in to = {.sin_family = AF_INET};
    memcpy(&to.sin_addr, p + 16, 4);
    m.msg_name = &to;
    m.msg_namelen = sizeof to;
    struct in_pktinfo pi = {.ipi_ifindex = (int)ifindex};
    memcpy(&pi.ipi_spec_dst, p + 12, 4); /* route by our source (policy routing per path) */
    c->cmsg_level = IPPROTO_IP; c->cmsg_type = IP_PKTINFO; c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    m.msg_controllen = CMSG_SPACE(sizeof pi);
    return sendmsg(s4, &m, 0) < 0 ? errno : 0;
  }
  if (v == 6) {
    if (n < 60 || p[6] != IPPROTO_TCP || ((size_t)p[4] << 8 | p[5]) + 40 != n) {
      note("refused: only IPv6 TCP without extension headers, with a consistent length");
      return EPERM;
    }
    const char *f = forbidden6(p + 24);
    if (f) { snprintf(why, sizeof why, "refused: destination is %s", f); note(why); return EPERM; }
    if (!is_local(AF_INET6, p + 8)) { note("refused: source is not an address of this host"); return EPERM; }
    struct sockaddr_in6 to = {.sin6_family = AF_INET6};
    memcpy(&to.sin6_addr, p + 24, 16);
    m.msg_name = &to;
    m.msg_namelen = sizeof to;
    struct in6_pktinfo pi = {.ipi6_ifindex = ifindex};
    memcpy(&pi.ipi6_addr, p + 8, 16);
    c->cmsg_level = IPPROTO_IPV6; c->cmsg_type = IPV6_PKTINFO; c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    m.msg_controllen = CMSG_SPACE(sizeof pi);
    return sendmsg(s6, &m, 0) < 0 ? errno : 0;
  }
  note("refused: not an IPv4 or IPv6 packet");
  return EPERM;
}

/* The source address routing picks for `dst` (a UDP connect sends nothing). */
static void query_src(uint32_t tag, uint32_t ifindex, const uint8_t *dst, size_t n) {
  uint8_t hdr[8], addr[16];
  int err = 0, fam = n == 4 ? AF_INET : AF_INET6, fd = n == 4 ? udp4 : udp6;
  size_t alen = n == 4 ? 4 : 16;
  memset(addr, 0, sizeof addr);
  if (n != 4 && n != 16) err = EINVAL;
  else {
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (fam == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      a->sin_family = AF_INET; a->sin_port = htons(9); memcpy(&a->sin_addr, dst, 4); sl = sizeof *a;
      uint32_t idx = htonl(ifindex);
      setsockopt(fd, IPPROTO_IP, IP_UNICAST_IF, &idx, sizeof idx);
    } else {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      a->sin6_family = AF_INET6; a->sin6_port = htons(9); memcpy(&a->sin6_addr, dst, 16); sl = sizeof *a;
      int idx = (int)ifindex;
      setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_IF, &idx, sizeof idx);
    }
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) err = errno;
    else {
      struct sockaddr_storage me;
      socklen_t ml = sizeof me;
      getsockname(fd, (struct sockaddr *)&me, &ml);
      if (fam == AF_INET) memcpy(addr, &((struct sockaddr_in *)&me)->sin_addr, 4);
      else memcpy(addr, &((struct sockaddr_in6 *)&me)->sin6_addr, 16);
    }
    struct sockaddr un = {.sa_family = AF_UNSPEC};
    connect(fd, &un, sizeof un);
  }
  put32(hdr, tag);
  put32(hdr + 4, (uint32_t)err);
  frame(0x83, hdr, 8, addr, err ? 0 : alen);
}

static void list_addrs(uint32_t tag) {
  struct ifaddrs *ifa, *i;
  char text[16384], a[INET6_ADDRSTRLEN];
  size_t len = 0;
  uint8_t hdr[4];
  if (getifaddrs(&ifa) == 0) {
    for (i = ifa; i; i = i->ifa_next) {
      if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)) continue;
      const void *src = i->ifa_addr->sa_family == AF_INET ? (void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                                                          : (void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
      inet_ntop(i->ifa_addr->sa_family, src, a, sizeof a);
      int w = snprintf(text + len, sizeof text - len, "%u %s %s\n", if_nametoindex(i->ifa_name), i->ifa_name, a);
      if (w < 0 || (size_t)w >= sizeof text - len) break;
      len += (size_t)w;
    }
    freeifaddrs(ifa);
  }
  put32(hdr, tag);
  frame(0x84, hdr, 4, text, len);
}

static int run_raw(long rate, long burst_arg) {
  if (rate <= 0 || rate > MAX_PPS) rate = rate <= 0 ? 100 : MAX_PPS;
  s4 = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  s6 = socket(AF_INET6, SOCK_RAW, IPPROTO_RAW);
  rx = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (s4 < 0 || rx < 0) {
    fprintf(stderr, "mptcp-probe: raw sockets need CAP_NET_RAW (run as root, through the privileged agent, "
                    "or setcap cap_net_raw+ep on this file): %s\n", strerror(errno));
    return 77;
  }
  int one = 1, rcvbuf = 8 << 20;
  if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  setsockopt(rx, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  if (attach_filter(rx) < 0) { perror("mptcp-probe: SO_ATTACH_FILTER"); return 1; }
  udp4 = socket(AF_INET, SOCK_DGRAM, 0);
  udp6 = socket(AF_INET6, SOCK_DGRAM, 0);
  drop_capabilities();
  load_locals();
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

  uint8_t hello[8];
  put32(hello, MAX_PPS);
  put32(hello + 4, (uint32_t)rate);
  frame(0x80, hello, 8, NULL, 0);
  flush_out();

  static uint8_t in[1 << 17];
  size_t inlen = 0;
  int in_eof = 0;
  /* Token bucket: `rate` per second, bursts of --burst packets (default 10 ms worth, at least
     one; never more than MAX_BURST). */
  double burst = burst_arg > 0 ? (double)burst_arg : rate / 100.0 < 1 ? 1 : rate / 100.0;
  if (burst > MAX_BURST && burst > rate / 100.0) burst = rate / 100.0 > MAX_BURST ? rate / 100.0 : MAX_BURST;
  double tokens = burst;
  uint64_t last = now_ns(CLOCK_MONOTONIC);
  static uint8_t pkt[MAX_PKT + 128];
  while (!stop) {
    uint64_t t = now_ns(CLOCK_MONOTONIC);
    tokens += (double)(t - last) * rate / 1e9;
    if (tokens > burst) tokens = burst;
    last = t;
    /* Handle whole frames while tokens last. */
    size_t off = 0;
    while (inlen - off >= 5) {
      uint32_t flen = get32(in + off);
      if (flen < 1 || flen > MAX_PKT + 64) { fprintf(stderr, "mptcp-probe: bad frame length %u\n", flen); return 2; }
      if (inlen - off < 4 + flen) break;
      uint8_t type = in[off + 4];
      const uint8_t *b = in + off + 5;
      size_t blen = flen - 1;
      if (type == 1 && blen >= 8) {
        if (tokens < 1) break;
        tokens -= 1;
        /* Stamped before sendmsg: on veth the whole path, answer included, can run inside it. */
        uint64_t sent_ns = now_ns(CLOCK_REALTIME);
        int err = send_packet(b + 8, blen - 8, get32(b + 4));
        uint8_t s[16];
        memcpy(s, b, 4);
        put64(s + 4, sent_ns);
        put32(s + 12, (uint32_t)err);
        frame(0x81, s, 16, NULL, 0);
      } else if (type == 2 && blen >= 8) {
        query_src(get32(b), get32(b + 4), b + 8, blen - 8);
      } else if (type == 3 && blen >= 4) {
        list_addrs(get32(b));
      } else {
        fprintf(stderr, "mptcp-probe: unknown frame type %u\n", type);
        return 2;
      }
      off += 4 + flen;
    }
    if (off) { memmove(in, in + off, inlen - off); inlen -= off; }
    int starved = inlen >= 5 && tokens < 1;
    /* Drain received packets. */
    for (int k = 0; k < 256; k++) {
      struct sockaddr_ll from;
      char cbuf[CMSG_SPACE(sizeof(struct timespec))];
      struct iovec iov = {.iov_base = pkt, .iov_len = sizeof pkt};
      struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = cbuf, .msg_controllen = sizeof cbuf};
      ssize_t r = recvmsg(rx, &m, 0);
      if (r <= 0) break;
      uint64_t ts = now_ns(CLOCK_REALTIME);
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
          struct timespec tsp;
          memcpy(&tsp, CMSG_DATA(c), sizeof tsp);
          ts = (uint64_t)tsp.tv_sec * 1000000000ull + (uint64_t)tsp.tv_nsec;
        }
      uint8_t h[12];
      put64(h, ts);
      put32(h + 8, (uint32_t)from.sll_ifindex);
      frame(0x82, h, 12, pkt, (size_t)r);
    }
    flush_out();
    if (in_eof && inlen < 5) break;
    struct pollfd pf[2] = {{.fd = rx, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
    int nfds = (in_eof || starved || inlen >= sizeof in - 2048) ? 1 : 2;
    int timeout = starved ? 1 : (in_eof ? 50 : 200);
    if (poll(pf, (nfds_t)nfds, timeout) < 0 && errno != EINTR) break;
    if (nfds == 2 && (pf[1].revents & (POLLIN | POLLHUP))) {
      ssize_t r = read(0, in + inlen, sizeof in - inlen);
      if (r == 0) in_eof = 1;
      else if (r > 0) inlen += (size_t)r;
    }
  }
  flush_out();
  return 0;
}

#include "mptcp-probe-connect.h"
#include "mptcp-probe-check.h"

int main(int argc, char **argv) {
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && strcmp(argv[1], "raw") == 0) {
    long rate = 100, burst = 0;
    for (int i = 2; i + 1 < argc; i++) {
      if (strcmp(argv[i], "--rate") == 0) rate = atol(argv[++i]);
      else if (strcmp(argv[i], "--burst") == 0) burst = atol(argv[++i]);
    }
    return run_raw(rate, burst);
  }
  if (argc >= 2 && strcmp(argv[1], "connect") == 0) {
    int timeout_ms = 3000, conc = 64;
    for (int i = 2; i + 1 < argc; i++) {
      if (strcmp(argv[i], "--timeout-ms") == 0) timeout_ms = atoi(argv[++i]);
      else if (strcmp(argv[i], "--concurrency") == 0) conc = atoi(argv[++i]);
    }
    return run_connect(timeout_ms, conc < 1 ? 1 : conc > 1024 ? 1024 : conc);
  }
  if (argc >= 3 && strcmp(argv[1], "echo") == 0) {
    int tcp = 0, v6 = 0;
    for (int i = 3; i < argc; i++) {
      if (strcmp(argv[i], "tcp") == 0) tcp = 1;
      if (strcmp(argv[i], "6") == 0) v6 = 1;
    }
    return run_echo(atoi(argv[2]), tcp, v6);
  }
  if (argc >= 2 && strcmp(argv[1], "check") == 0) return run_check();
  fprintf(stderr, "usage: %s raw [--rate PPS] | connect [--timeout-ms T] [--concurrency N] | echo PORT [tcp] [6] | check\n",
          argv[0]);
  return 2;
}
