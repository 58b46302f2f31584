/*
 * raw-diag-dump: the floor for a sock_diag poll. Sends the same four dumps as the engine
 * (src-main/engine/diag/connections.ts): MPTCP (INET_DIAG_REQ_PROTOCOL = 262, ext INFO, all states
 * but LISTEN) and TCP (ext INFO|CONG, all states but LISTEN, TIME_WAIT and NEW_SYN_RECV), each for
 * AF_INET and AF_INET6, and reads every datagram without decoding anything.
 *
 *   raw-diag-dump ITERS [RECVBUF_BYTES [tcp4]]
 *       prints {"ms":[...],"cpuMs":[...],"messages":N,"bytes":N} (wall and process CPU per poll,
 *       after 2 warm-ups); with tcp4, the AF_INET TCP dump alone
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef INET_DIAG_REQ_PROTOCOL
#define INET_DIAG_REQ_PROTOCOL 3
#endif
#define IPPROTO_MPTCP_NUM 262

static double clock_ms(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
static double now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
/* CPU time of the process (user + system, the kernel's dump work included). */
static double cpu_ms(void) { return clock_ms(CLOCK_PROCESS_CPUTIME_ID); }

static char *buf;
static size_t buflen;
static long messages, bytes;

static void dump(int fd, int family, int mptcp, unsigned seq) {
  struct {
    struct nlmsghdr nh;
    struct inet_diag_req_v2 req;
    struct nlattr proto_hdr;
    unsigned proto;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nh.nlmsg_len = mptcp ? sizeof msg : NLMSG_LENGTH(sizeof msg.req);
  msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nh.nlmsg_seq = seq;
  msg.req.sdiag_family = (unsigned char)family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  if (mptcp) {
    msg.req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
    msg.req.idiag_states = ~(1u << 10);
    msg.proto_hdr.nla_len = sizeof msg.proto_hdr + sizeof msg.proto;
    msg.proto_hdr.nla_type = INET_DIAG_REQ_PROTOCOL;
    msg.proto = IPPROTO_MPTCP_NUM;
  } else {
    msg.req.idiag_ext = (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_CONG - 1));
    msg.req.idiag_states = ~((1u << 10) | (1u << 6) | (1u << 12));
  }
  struct sockaddr_nl k = {.nl_family = AF_NETLINK};
  if (sendto(fd, &msg, msg.nh.nlmsg_len, 0, (struct sockaddr *)&k, sizeof k) < 0) {
    perror("sendto");
    exit(1);
  }
  for (;;) {
    ssize_t n = recv(fd, buf, buflen, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("recv");
      exit(1);
    }
    bytes += n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return;
      if (h->nlmsg_type == NLMSG_ERROR) {
        fprintf(stderr, "raw-diag-dump: netlink error %d\n", -*(int *)NLMSG_DATA(h));
        exit(1);
      }
      messages++;
    }
  }
}

int main(int argc, char **argv) {
  int iters = argc > 1 ? atoi(argv[1]) : 15;
  buflen = argc > 2 ? (size_t)atol(argv[2]) : 32768;
  /* "tcp4": the AF_INET TCP dump alone (bench/poll-threads.mjs, the dump worker's floor). */
  int all = !(argc > 3 && strcmp(argv[3], "tcp4") == 0);
  buf = malloc(buflen);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0 || !buf) {
    perror("socket");
    return 1;
  }
  int rcv = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  unsigned seq = 1;
  double *cpu = calloc((size_t)iters + 2, sizeof *cpu);
  if (!cpu) return 1;
  printf("{\"ms\":[");
  for (int i = 0; i < iters + 2; i++) {
    messages = bytes = 0;
    double t0 = now_ms();
    double c0 = cpu_ms();
    if (all) {
      dump(fd, AF_INET, 1, seq++);
      dump(fd, AF_INET6, 1, seq++);
    }
    dump(fd, AF_INET, 0, seq++);
    if (all) dump(fd, AF_INET6, 0, seq++);
    double dt = now_ms() - t0;
    cpu[i] = cpu_ms() - c0;
    if (i >= 2) printf("%s%.3f", i > 2 ? "," : "", dt);
  }
  printf("],\"cpuMs\":[");
  for (int i = 2; i < iters + 2; i++) printf("%s%.3f", i > 2 ? "," : "", cpu[i]);
  printf("],\"messages\":%ld,\"bytes\":%ld}\n", messages, bytes);
  free(cpu);
  close(fd);
  return 0;
}
