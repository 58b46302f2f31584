/*
 * mptcp-probe, unprivileged part (included by mptcp-probe.c): `check`, the client end of the Path
 * doctor's subflow check (docs/path-doctor.md "Subflow check"). One connection, driven by line
 * commands on stdin; one JSON line per answer on stdout. The engine, which holds CAP_NET_ADMIN,
 * adds the subflows (MPTCP_PM_CMD_SUBFLOW_CREATE with this connection's token) and reads what
 * each one carried (sock_diag); this side only connects and moves a known byte stream through
 * an echo server (`mptcp-probe echo`, `mptcp-studio responder`), checking every byte that comes
 * back.
 *
 *   pattern SEED [SIGHEX OFFSET]  the stream: byte o = pattern(SEED, o), except SIGHEX's bytes
 *                                 from stream offset OFFSET on (the lab's IDS demonstration)
 *   open mptcp|tcp 4|6 [SRC]      create the socket (bound to address SRC, port 0, if given).
 *                                 Separate from connect: the path manager is chosen when an MPTCP
 *                                 socket is created (Documentation/networking/mptcp-sysctl.rst)
 *   connect ADDR PORT TIMEOUT_MS  connect; reports TCP_IS_MPTCP and MPTCP_INFO's token
 *   send BYTES TIMEOUT_MS         write the next BYTES of the stream, read the echo, compare;
 *                                 progress lines while it runs, then the outcome
 *   info                          TCP_IS_MPTCP and MPTCP_INFO now
 *   close                         shutdown, wait briefly for the peer's end, close
 *   abort                         close with an RST (SO_LINGER 0): nothing is retransmitted
 */
#include <stdarg.h>

#define CHECK_MAX_SIG 128

static uint32_t chk_seed;
static uint8_t chk_sig[CHECK_MAX_SIG];
static size_t chk_sig_len;
static uint64_t chk_sig_off;

static inline uint8_t chk_byte(uint64_t o) {
  if (chk_sig_len && o >= chk_sig_off && o - chk_sig_off < chk_sig_len) return chk_sig[o - chk_sig_off];
  uint32_t x = (uint32_t)(o >> 2) * 2654435761u ^ chk_seed;
  x ^= x >> 15;
  x *= 2246822519u;
  x ^= x >> 13;
  return (uint8_t)(x >> ((o & 3) * 8));
}

static void chk_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void chk_reply(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static void chk_error(const char *cmd, int err, const char *what) {
  chk_reply("{\"ev\":\"%s\",\"ok\":false,\"errno\":\"%s\",\"message\":\"%s: %s\"}", cmd,
            err ? strerrorname_np(err) : "EINVAL", what, err ? strerror(err) : "invalid");
}

static int chk_parse_addr(const char *a, int port, struct sockaddr_storage *ss, socklen_t *sl) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, a, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *sl = sizeof *a4;
    return AF_INET;
  }
  if (inet_pton(AF_INET6, a, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *sl = sizeof *a6;
    return AF_INET6;
  }
  return -1;
}

static void chk_info(int fd, const char *ev) {
  struct mptcp_info mi;
  socklen_t l = sizeof mi;
  memset(&mi, 0, sizeof mi);
  int have = getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mi, &l) == 0;
  chk_reply("{\"ev\":\"%s\",\"ok\":true,\"mptcp\":%d,\"token\":%u,\"infoFlags\":%ld,\"extraSubflows\":%d}", ev,
            is_mptcp(fd), have ? mi.mptcpi_token : 0u, have ? (long)mi.mptcpi_flags : -1L,
            have ? mi.mptcpi_subflows : -1);
}

static int chk_wait(int fd, short events, uint64_t deadline_ns) {
  for (;;) {
    uint64_t t = now_ns(CLOCK_MONOTONIC);
    if (t >= deadline_ns || stop) return 0;
    struct pollfd pf = {.fd = fd, .events = events};
    int r = poll(&pf, 1, (int)((deadline_ns - t) / 1000000ull) + 1);
    if (r > 0) return pf.revents;
    if (r < 0 && errno != EINTR) return -1;
  }
}

/* Write `bytes` more of the stream and read the echo of everything written so far. */
static void chk_send(int fd, uint64_t *sent, uint64_t *echoed, int64_t *mismatch, uint64_t bytes, int timeout_ms) {
  static uint8_t out[65536], in[65536];
  uint64_t target = *sent + bytes;
  uint64_t start = now_ns(CLOCK_MONOTONIC), deadline = start + (uint64_t)timeout_ms * 1000000ull;
  uint64_t next_progress = start + 100000000ull;
  int eof = 0, err = 0;
  while (!stop && (*echoed < target) && !eof && !err) {
    uint64_t t = now_ns(CLOCK_MONOTONIC);
    if (t >= deadline) break;
    if (t >= next_progress) {
      chk_reply("{\"ev\":\"progress\",\"sent\":%llu,\"echoed\":%llu}", (unsigned long long)*sent,
                (unsigned long long)*echoed);
      next_progress = t + 100000000ull;
    }
    struct pollfd pf = {.fd = fd, .events = (short)(POLLIN | (*sent < target ? POLLOUT : 0))};
    int r = poll(&pf, 1, 50);
    if (r < 0 && errno != EINTR) { err = errno; break; }
    if (r <= 0) continue;
    if (pf.revents & POLLOUT) {
      size_t n = target - *sent < sizeof out ? (size_t)(target - *sent) : sizeof out;
      for (size_t i = 0; i < n; i++) out[i] = chk_byte(*sent + i);
      ssize_t w = send(fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) *sent += (uint64_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) err = errno;
    }
    if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r2 = recv(fd, in, sizeof in, MSG_DONTWAIT);
      if (r2 == 0) eof = 1;
      else if (r2 < 0 && errno != EAGAIN && errno != EINTR) err = errno;
      for (ssize_t i = 0; i < r2; i++) {
        if (*mismatch < 0 && in[i] != chk_byte(*echoed + (uint64_t)i)) *mismatch = (int64_t)(*echoed + (uint64_t)i);
      }
      if (r2 > 0) *echoed += (uint64_t)r2;
    }
  }
  double ms = (double)(now_ns(CLOCK_MONOTONIC) - start) / 1e6;
  chk_reply("{\"ev\":\"sent\",\"ok\":true,\"sent\":%llu,\"echoed\":%llu,\"complete\":%s,\"mismatchAt\":%lld,"
            "\"peerClosed\":%s,\"errno\":%s%s%s,\"ms\":%.3f,\"mptcp\":%d}",
            (unsigned long long)*sent, (unsigned long long)*echoed, *echoed >= target ? "true" : "false",
            (long long)*mismatch, eof ? "true" : "false", err ? "\"" : "", err ? strerrorname_np(err) : "null",
            err ? "\"" : "", ms, is_mptcp(fd));
}

static int run_check(void) {
  char line[512], cmd[32], a[64], b[300];
  int fd = -1, family = AF_INET;
  uint64_t sent = 0, echoed = 0;
  int64_t mismatch = -1;
  drop_capabilities(); /* nothing here needs a privilege */
  chk_reply("{\"ev\":\"ready\",\"ok\":true}");
  while (!stop && fgets(line, sizeof line, stdin)) {
    a[0] = b[0] = 0;
    if (sscanf(line, "%31s", cmd) != 1) continue;
    if (strcmp(cmd, "pattern") == 0) {
      unsigned long seed = 0;
      unsigned long long off = 0;
      int n = sscanf(line, "%*s %lu %299s %llu", &seed, b, &off);
      chk_seed = (uint32_t)seed;
      chk_sig_len = 0;
      if (n == 3) {
        size_t len = strlen(b) / 2;
        if (len == 0 || len > CHECK_MAX_SIG) { chk_error("pattern", 0, "signature of 1..128 bytes"); continue; }
        for (size_t i = 0; i < len; i++) {
          unsigned v;
          if (sscanf(b + 2 * i, "%2x", &v) != 1) { len = 0; break; }
          chk_sig[i] = (uint8_t)v;
        }
        chk_sig_len = len;
        chk_sig_off = off;
      }
      chk_reply("{\"ev\":\"pattern\",\"ok\":true}");
    } else if (strcmp(cmd, "open") == 0) {
      int v6 = 0;
      char proto[8] = "";
      if (sscanf(line, "%*s %7s %d %63s", proto, &v6, a) < 2) { chk_error("open", 0, "usage"); continue; }
      if (fd >= 0) close(fd);
      family = v6 == 6 ? AF_INET6 : AF_INET;
      fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK, strcmp(proto, "tcp") == 0 ? IPPROTO_TCP : IPPROTO_MPTCP);
      if (fd < 0) {
        int e = errno;
        chk_error("open", e, e == ENOPROTOOPT ? "MPTCP is disabled here (net.mptcp.enabled = 0)" : "socket");
        continue;
      }
      sent = echoed = 0;
      mismatch = -1;
      if (a[0]) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (chk_parse_addr(a, 0, &ss, &sl) != family || bind(fd, (struct sockaddr *)&ss, sl) < 0) {
          int e = errno;
          chk_error("open", e, "bind to the source address");
          close(fd);
          fd = -1;
          continue;
        }
      }
      chk_reply("{\"ev\":\"open\",\"ok\":true}");
    } else if (strcmp(cmd, "connect") == 0) {
      int port = 0, timeout_ms = 3000;
      struct sockaddr_storage ss;
      socklen_t sl;
      if (fd < 0 || sscanf(line, "%*s %63s %d %d", a, &port, &timeout_ms) < 2 || port < 1 || port > 65535 ||
          chk_parse_addr(a, port, &ss, &sl) != family) {
        chk_error("connect", 0, "open first, then connect ADDR PORT of the socket's family");
        continue;
      }
      uint64_t t0 = now_ns(CLOCK_MONOTONIC);
      int e = connect(fd, (struct sockaddr *)&ss, sl) < 0 ? errno : 0;
      if (e == EINPROGRESS) {
        int r = chk_wait(fd, POLLOUT, t0 + (uint64_t)timeout_ms * 1000000ull);
        socklen_t l = sizeof e;
        e = 0;
        if (r <= 0) e = ETIMEDOUT;
        else getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
      }
      if (e) { chk_error("connect", e, "connect"); continue; }
      struct sockaddr_storage me;
      socklen_t ml = sizeof me;
      char local[INET6_ADDRSTRLEN] = "";
      int lport = 0;
      getsockname(fd, (struct sockaddr *)&me, &ml);
      if (me.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&me)->sin_addr, local, sizeof local);
        lport = ntohs(((struct sockaddr_in *)&me)->sin_port);
      } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&me)->sin6_addr, local, sizeof local);
        lport = ntohs(((struct sockaddr_in6 *)&me)->sin6_port);
      }
      struct mptcp_info mi;
      socklen_t l = sizeof mi;
      memset(&mi, 0, sizeof mi);
      int have = getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mi, &l) == 0;
      chk_reply("{\"ev\":\"connect\",\"ok\":true,\"mptcp\":%d,\"token\":%u,\"local\":\"%s\",\"localPort\":%d,"
                "\"connectMs\":%.3f}",
                is_mptcp(fd), have ? mi.mptcpi_token : 0u, local, lport,
                (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6);
    } else if (strcmp(cmd, "send") == 0) {
      unsigned long long bytes = 0;
      int timeout_ms = 10000;
      if (fd < 0 || sscanf(line, "%*s %llu %d", &bytes, &timeout_ms) < 1 || bytes > (1ull << 32)) {
        chk_error("send", 0, "connect first, then send BYTES [TIMEOUT_MS]");
        continue;
      }
      chk_send(fd, &sent, &echoed, &mismatch, bytes, timeout_ms);
    } else if (strcmp(cmd, "info") == 0) {
      if (fd < 0) { chk_error("info", 0, "no socket"); continue; }
      chk_info(fd, "info");
    } else if (strcmp(cmd, "abort") == 0) {
      if (fd >= 0) { /* an RST now, nothing left to retransmit */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
        fd = -1;
      }
      chk_reply("{\"ev\":\"abort\",\"ok\":true}");
    } else if (strcmp(cmd, "close") == 0) {
      if (fd >= 0) {
        shutdown(fd, SHUT_WR);
        static uint8_t sink[65536];
        uint64_t deadline = now_ns(CLOCK_MONOTONIC) + 1000000000ull;
        while (chk_wait(fd, POLLIN, deadline) > 0 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {}
        close(fd);
        fd = -1;
      }
      chk_reply("{\"ev\":\"close\",\"ok\":true}");
    } else {
      chk_error("unknown", 0, "unknown command");
    }
  }
  if (fd >= 0) close(fd);
  return 0;
}
