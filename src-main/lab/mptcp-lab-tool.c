/*
 * mptcp-lab-tool: real MPTCP traffic for the test lab and the benchmarks.
 *
 * Node's net module always opens sockets with protocol 0, so it cannot create IPPROTO_MPTCP (262)
 * sockets. This small program does, and nothing else: it is compiled on demand by the lab helper
 * (src-main/lab/lab.ts) and run inside the lab's network namespaces. It only ever connects to the
 * address it is given, which the lab takes from its own namespaces.
 *
 *   server PORT [REPORT_MS] [6]      accept MPTCP connections on 0.0.0.0:PORT (with 6: [::]:PORT,
 *                                    IPv6 only), read and discard; with REPORT_MS > 0, print
 *                                    "rx <total bytes read>" that often (goodput as the
 *                                    receiving application sees it)
 *   client ADDR PORT N [RATE] [CC]   open N MPTCP connections to an IPv4 or IPv6 ADDR; RATE =
 *                                    bytes/s per connection
 *                                    (0 = idle, -1 = as fast as possible); CC = TCP_CONGESTION,
 *                                    set on the MPTCP socket, which applies it to every subflow
 *   tcp-client ADDR PORT N [RATE] [CC]  the same with plain single-path TCP sockets (the
 *                                    competing flow of the congestion-control experiments)
 *   client|tcp-client ... RATE CC abort   on exit, reset the connections (SO_LINGER 0; MPTCP
 *                                    sends MP_FASTCLOSE) instead of closing them gracefully, so
 *                                    no orphaned subflow outlives the run still holding its CC
 *                                    (a BPF CC cannot be freed while a socket uses it)
 *
 * Both print "ready <n>" on stdout once listening / once all N are established, then run until
 * stdin closes or SIGTERM, so the parent controls the lifetime and nothing outlives a test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void die(const char *what) {
  fprintf(stderr, "mptcp-lab-tool: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* stdin closed (parent gone) or a signal: time to leave. */
static int parent_gone(void) {
  struct pollfd p = {.fd = 0, .events = POLLIN};
  if (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP))) {
    char b[64];
    if (read(0, b, sizeof b) <= 0) return 1;
  }
  return stop;
}

static int run_server(int port, int report_ms, int v6) {
  int ls = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_MPTCP);
  if (ls < 0) die("socket(IPPROTO_MPTCP)");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY};
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
  /* IPv6 only: an IPv4 peer would otherwise show up as a v4-mapped inet6 connection. */
  if (v6) setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if ((v6 ? bind(ls, (struct sockaddr *)&a6, sizeof a6) : bind(ls, (struct sockaddr *)&a, sizeof a)) < 0)
    die("bind");
  if (listen(ls, 4096) < 0) die("listen");
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  printf("ready 0\n");
  fflush(stdout);
  static char buf[256 * 1024];
  struct epoll_event evs[256];
  unsigned long long rx = 0;
  double next_report = now_s() + report_ms / 1000.0;
  while (!parent_gone()) {
    if (report_ms > 0 && now_s() >= next_report) {
      printf("rx %llu\n", rx);
      fflush(stdout);
      next_report += report_ms / 1000.0;
      if (next_report < now_s()) next_report = now_s() + report_ms / 1000.0;
    }
    int n = epoll_wait(ep, evs, 256, report_ms > 0 && report_ms < 100 ? report_ms : 100);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
      } else {
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0) rx += (unsigned long long)r;
        if (r == 0 || (r < 0 && errno != EAGAIN)) close(fd);
      }
    }
  }
  return 0;
}

static void abort_all(int *fds, int count) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  for (int i = 0; i < count; i++) {
    if (fds[i] <= 0) continue;
    setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fds[i]);
  }
}

static int run_client(const char *addr, int port, int count, long rate, const char *cc, int proto,
                      int abort_on_exit) {
  int *fds = calloc((size_t)count, sizeof *fds);
  char *up = calloc((size_t)count, 1);
  if (!fds || !up) die("calloc");
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
  int family = AF_INET;
  if (inet_pton(AF_INET, addr, &a4.sin_addr) != 1) {
    if (inet_pton(AF_INET6, addr, &a6.sin6_addr) != 1) {
      fprintf(stderr, "mptcp-lab-tool: bad IPv4 or IPv6 address %s\n", addr);
      return 2;
    }
    family = AF_INET6;
  }
  struct sockaddr *a = family == AF_INET ? (struct sockaddr *)&a4 : (struct sockaddr *)&a6;
  socklen_t alen = family == AF_INET ? sizeof a4 : sizeof a6;
  int ep = epoll_create1(0);
  for (int i = 0; i < count; i++) {
    int s = socket(family, SOCK_STREAM | SOCK_NONBLOCK, proto);
    if (s < 0) die(proto == IPPROTO_MPTCP ? "socket(IPPROTO_MPTCP)" : "socket(IPPROTO_TCP)");
    if (cc && *cc && setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)) < 0)
      die("setsockopt(TCP_CONGESTION)");
    if (connect(s, a, alen) < 0 && errno != EINPROGRESS) die("connect");
    fds[i] = s;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  }
  int established = 0;
  struct epoll_event evs[512];
  double deadline = now_s() + 60;
  while (established < count) {
    if (parent_gone() || now_s() > deadline) {
      fprintf(stderr, "mptcp-lab-tool: only %d of %d connections established\n", established, count);
      if (abort_on_exit) abort_all(fds, count);
      return 1;
    }
    int n = epoll_wait(ep, evs, 512, 100);
    for (int i = 0; i < n; i++) {
      int idx = (int)evs[i].data.u32;
      if (up[idx]) continue;
      int err = 0;
      socklen_t l = sizeof err;
      getsockopt(fds[idx], SOL_SOCKET, SO_ERROR, &err, &l);
      if (err) {
        errno = err;
        die("connect");
      }
      up[idx] = 1;
      established++;
      epoll_ctl(ep, EPOLL_CTL_DEL, fds[idx], NULL);
    }
  }
  printf("ready %d\n", established);
  fflush(stdout);
  static char buf[64 * 1024];
  memset(buf, 'm', sizeof buf);
  double tick = 0.01, next = now_s();
  while (!parent_gone()) {
    if (rate == 0) {
      usleep(100000);
      continue;
    }
    if (rate < 0) {
      /* Saturate: blocking-ish writes with poll so every connection gets its turn. */
      struct pollfd p[64];
      int m = count < 64 ? count : 64;
      for (int i = 0; i < m; i++) p[i] = (struct pollfd){.fd = fds[i], .events = POLLOUT};
      if (poll(p, (nfds_t)m, 100) > 0)
        for (int i = 0; i < m; i++)
          if (p[i].revents & POLLOUT) (void)!write(fds[i], buf, sizeof buf);
      continue;
    }
    long chunk = (long)((double)rate * tick);
    for (int i = 0; i < count; i++) {
      long left = chunk;
      while (left > 0) {
        ssize_t w = write(fds[i], buf, (size_t)(left < (long)sizeof buf ? left : (long)sizeof buf));
        if (w <= 0) break;
        left -= w;
      }
    }
    next += tick;
    double d = next - now_s();
    if (d > 0) usleep((useconds_t)(d * 1e6));
    else next = now_s();
  }
  if (abort_on_exit) abort_all(fds, count);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  if (argc >= 3 && strcmp(argv[1], "server") == 0)
    return run_server(atoi(argv[2]), argc >= 4 ? atoi(argv[3]) : 0, argc >= 5 && strcmp(argv[4], "6") == 0);
  int tcp = argc >= 2 && strcmp(argv[1], "tcp-client") == 0;
  if (argc >= 5 && (strcmp(argv[1], "client") == 0 || tcp))
    return run_client(argv[2], atoi(argv[3]), atoi(argv[4]), argc >= 6 ? atol(argv[5]) : 0,
                      argc >= 7 ? argv[6] : NULL, tcp ? IPPROTO_TCP : IPPROTO_MPTCP,
                      argc >= 8 && strcmp(argv[7], "abort") == 0);
  fprintf(stderr,
          "usage: %s server PORT [REPORT_MS] [6] | client|tcp-client ADDR PORT N [RATE_BYTES_PER_SEC] "
          "[CC] [abort]\n",
          argv[0]);
  return 2;
}
