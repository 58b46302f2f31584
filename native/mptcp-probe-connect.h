/*
 * mptcp-probe, unprivileged parts (included by mptcp-probe.c): `connect` and `echo`.
 *
 * connect: Node cannot open IPPROTO_MPTCP sockets (libuv creates every socket with protocol 0),
 * so the connect-mode scan and the subflow check use this. Per "ADDR PORT" line on stdin it
 * connects with IPPROTO_MPTCP, reads TCP_IS_MPTCP (SOL_TCP 43, Linux 6.10+) and MPTCP_INFO
 * (SOL_MPTCP 1: EOPNOTSUPP once fallen back), TCP_INFO's SYN retransmissions, sends two bytes
 * ("\r\n", harmless to line protocols) and waits briefly for a reply or the ACK, then reads
 * TCP_IS_MPTCP again: a fallback after the handshake (MPCapableDataFallback, DssFallback:
 * a box that strips DSS from data) shows there. One JSON line per target, then a summary line
 * with the MPTcpExt counters that moved during the run (/proc/net/netstat of this netns).
 *
 * echo: accept MPTCP (or TCP) connections and write back whatever arrives.
 */
#include <linux/mptcp.h>

#define CONNECT_DATA "\r\n"

struct conn {
  int fd, state; /* 0 free, 1 connecting, 2 waiting for the reply */
  char addr[64];
  int port;
  uint64_t start_ns, connected_ns, deadline_ns;
  int mptcp_at_connect, syn_retrans, reply_bytes;
  long info_flags;
};

static const char *COUNTERS[] = {"MPCapableSYNTX", "MPCapableSYNACKRX", "MPCapableSYNTXDrop",
                                 "MPCapableSYNTXDisabled", "Blackhole", "MPCapableFallbackSYNACK",
                                 "MPCapableDataFallback", "DssFallback", NULL};

static void read_counters(long long *out) {
  char line[8192], vals[8192];
  for (int i = 0; COUNTERS[i]; i++) out[i] = -1;
  FILE *f = fopen("/proc/net/netstat", "r");
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "MPTcpExt:", 9) != 0 || !fgets(vals, sizeof vals, f)) continue;
    char *sn, *sv, *n = strtok_r(line + 9, " \n", &sn), *v = strtok_r(vals + 9, " \n", &sv);
    while (n && v) {
      for (int i = 0; COUNTERS[i]; i++)
        if (strcmp(n, COUNTERS[i]) == 0) out[i] = atoll(v);
      n = strtok_r(NULL, " \n", &sn);
      v = strtok_r(NULL, " \n", &sv);
    }
  }
  fclose(f);
}

static int is_mptcp(int fd) {
  int v = -1;
  socklen_t l = sizeof v;
  if (getsockopt(fd, SOL_TCP, TCP_IS_MPTCP_OPT, &v, &l) < 0) return -1;
  return v;
}

static void emit_result(struct conn *c, const char *result, int err) {
  uint64_t t = now_ns(CLOCK_MONOTONIC);
  int after = c->state == 2 ? is_mptcp(c->fd) : -1;
  printf("{\"addr\":\"%s\",\"port\":%d,\"result\":\"%s\",\"errno\":%s%s%s,\"connectMs\":%.3f,"
         "\"totalMs\":%.3f,\"synRetrans\":%d,\"mptcpAtConnect\":%d,\"mptcpAfterData\":%d,\"infoFlags\":%ld,"
         "\"replyBytes\":%d}\n",
         c->addr, c->port, result, err ? "\"" : "", err ? strerrorname_np(err) : "null", err ? "\"" : "",
         c->connected_ns ? (double)(c->connected_ns - c->start_ns) / 1e6 : -1.0,
         (double)(t - c->start_ns) / 1e6, c->syn_retrans, c->mptcp_at_connect, after, c->info_flags,
         c->reply_bytes);
  fflush(stdout);
  if (c->fd >= 0) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); /* no TIME_WAIT left on a scanned host */
    close(c->fd);
  }
  c->fd = -1;
  c->state = 0;
}

static int start_conn(struct conn *c, int ep, const char *line, int timeout_ms) {
  char a[64];
  int port;
  if (sscanf(line, "%63s %d", a, &port) != 2 || port < 1 || port > 65535) return -1;
  struct sockaddr_storage ss = {0};
  socklen_t sl;
  int fam;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, a, &a4->sin_addr) == 1) {
    fam = a4->sin_family = AF_INET; a4->sin_port = htons((uint16_t)port); sl = sizeof *a4;
  } else if (inet_pton(AF_INET6, a, &a6->sin6_addr) == 1) {
    fam = a6->sin6_family = AF_INET6; a6->sin6_port = htons((uint16_t)port); sl = sizeof *a6;
  } else return -1;
  memset(c, 0, sizeof *c);
  snprintf(c->addr, sizeof c->addr, "%s", a);
  c->port = port;
  c->info_flags = -1;
  c->mptcp_at_connect = -1;
  c->start_ns = now_ns(CLOCK_MONOTONIC);
  c->deadline_ns = c->start_ns + (uint64_t)timeout_ms * 1000000ull;
  c->fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_MPTCP);
  if (c->fd < 0) {
    int e = errno;
    printf("{\"addr\":\"%s\",\"port\":%d,\"result\":\"error\",\"errno\":\"%s\",\"note\":\"%s\"}\n", a, port,
           strerrorname_np(e), e == ENOPROTOOPT ? "MPTCP is disabled here (net.mptcp.enabled = 0)" : "socket");
    fflush(stdout);
    return 0;
  }
  c->state = 1;
  if (connect(c->fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
    emit_result(c, errno == ECONNREFUSED ? "refused" : "unreachable", errno);
    return 0;
  }
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

static void on_connected(struct conn *c, int ep, int timeout_ms) {
  int err = 0;
  socklen_t l = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
  if (err) {
    emit_result(c, err == ECONNREFUSED ? "refused" : err == ETIMEDOUT ? "timeout" : "unreachable", err);
    return;
  }
  c->connected_ns = now_ns(CLOCK_MONOTONIC);
  c->mptcp_at_connect = is_mptcp(c->fd);
  struct tcp_info ti;
  l = sizeof ti;
  if (getsockopt(c->fd, SOL_TCP, TCP_INFO, &ti, &l) == 0) c->syn_retrans = (int)ti.tcpi_total_retrans;
  struct mptcp_info mi;
  l = sizeof mi;
  if (getsockopt(c->fd, SOL_MPTCP, MPTCP_INFO, &mi, &l) == 0) c->info_flags = (long)mi.mptcpi_flags;
  (void)!write(c->fd, CONNECT_DATA, sizeof CONNECT_DATA - 1);
  c->state = 2;
  /* A reply or the ACK of our data comes within a few RTTs; wait up to a quarter of the budget. */
  uint64_t wait = (c->connected_ns - c->start_ns) * 4 + 50000000ull;
  uint64_t cap = (uint64_t)timeout_ms * 250000ull;
  c->deadline_ns = c->connected_ns + (wait < cap ? wait : cap);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int run_connect(int timeout_ms, int conc) {
  struct conn *cs = calloc((size_t)conc, sizeof *cs);
  long long before[16], after[16];
  read_counters(before);
  int ep = epoll_create1(0), eof = 0, busy = 0;
  for (int i = 0; i < conc; i++) cs[i].fd = -1;
  char line[256];
  while (!stop && (!eof || busy > 0)) {
    for (int i = 0; i < conc && !eof; i++) {
      if (cs[i].state) continue;
      if (!fgets(line, sizeof line, stdin)) { eof = 1; break; }
      if (start_conn(&cs[i], ep, line, timeout_ms) < 0) {
        fprintf(stderr, "mptcp-probe: ignored line: %s", line);
      }
    }
    struct epoll_event evs[128];
    int n = epoll_wait(ep, evs, 128, 10);
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c->state == 1) on_connected(c, ep, timeout_ms);
      else if (c->state == 2) {
        char buf[4096];
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) c->reply_bytes += (int)r;
        emit_result(c, is_mptcp(c->fd) == 1 ? "mptcp" : c->mptcp_at_connect == 1 ? "fallback" : "tcp", 0);
      }
    }
    uint64_t t = now_ns(CLOCK_MONOTONIC);
    busy = 0;
    for (int i = 0; i < conc; i++) {
      struct conn *c = &cs[i];
      if (!c->state) continue;
      if (t >= c->deadline_ns) {
        if (c->state == 1) emit_result(c, "timeout", ETIMEDOUT);
        else emit_result(c, is_mptcp(c->fd) == 1 ? "mptcp" : c->mptcp_at_connect == 1 ? "fallback" : "tcp", 0);
      }
      if (c->state) busy++;
    }
  }
  read_counters(after);
  printf("{\"summary\":true,\"counters\":{");
  for (int i = 0; COUNTERS[i]; i++)
    printf("%s\"%s\":%lld", i ? "," : "", COUNTERS[i], before[i] < 0 || after[i] < 0 ? -1 : after[i] - before[i]);
  printf("}}\n");
  fflush(stdout);
  return 0;
}

static int run_echo(int port, int tcp, int v6) {
  int ls = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, tcp ? IPPROTO_TCP : IPPROTO_MPTCP);
  if (ls < 0) { perror("mptcp-probe: socket"); return 1; }
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one); /* beside an IPv4 listener */
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = INADDR_ANY};
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_ANY_INIT};
  if ((v6 ? bind(ls, (struct sockaddr *)&a6, sizeof a6) : bind(ls, (struct sockaddr *)&a, sizeof a)) < 0 ||
      listen(ls, 4096) < 0) {
    perror("mptcp-probe: bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  ev.data.fd = 0;
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev); /* stdin closing = the parent is gone */
  printf("ready 0\n");
  fflush(stdout);
  static char buf[64 * 1024];
  struct epoll_event evs[64];
  while (!stop) {
    int n = epoll_wait(ep, evs, 64, 200);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == 0) {
        if (read(0, buf, sizeof buf) <= 0) return 0;
      } else if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, 0)) >= 0) {
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
      } else {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0) { close(fd); continue; }
        for (ssize_t off = 0; off < r;) { /* blocking socket: the echo keeps up with the sender */
          ssize_t w = write(fd, buf + off, (size_t)(r - off));
          if (w <= 0) break;
          off += w;
        }
      }
    }
  }
  return 0;
}
