/*
 * Loader and report for ssthresh_watch.bpf.c (see there). Not part of the product.
 *   clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I.cache/bpf -c bpf/diag/ssthresh_watch.bpf.c -o W.o
 *   cc -O1 bpf/diag/ssthresh_watch.c -o watch -lbpf && ./watch W.o     (Ctrl-C ends and reports)
 * For every new "mpst_*" subflow (raw tracepoint inet_sock_set_state -> ESTABLISHED) it opens a
 * 4-byte write breakpoint on &tp->snd_ssthresh on every CPU, with on_write attached; it closes it
 * when the subflow reaches CLOSE. x86 has 4 debug registers, so at most 4 subflows are watched.
 */
#include <errno.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MAX_WATCH 4
#define MAX_CPU 64

struct sk_ev { unsigned long long ts, sk; unsigned ss_off, newstate; unsigned short sport, dport; char ca[16]; };
struct hit {
	unsigned long long ts, addr, ip;
	unsigned old, clamp, val, cpu, cwnd, prior_cwnd, prior_ss, ca_state;
	long long stack_len;
	unsigned long long ops, ssfn;
	char ca[16], comm[16];
	unsigned long long stack[48];
};

static struct { unsigned long long sk, addr, syn_ts; int fds[MAX_CPU]; } watch[MAX_WATCH];
static long long arm_lag_max_ns;
static int ncpu, prog_fd, last_fd, nw_fd;
static long long nwatched, nskipped, nhits;
static volatile int stop;
static void onsig(int s) { (void)s; stop = 1; }

#include "ksym.h"

static int on_ev(void *ctx, void *data, size_t size)
{
	const struct sk_ev *e = data;
	(void)ctx; (void)size;
	unsigned long long key = e->sk + e->ss_off;
	/* A new socket at a reused address starts without a remembered value. */
	bpf_map_delete_elem(last_fd, &key);
	bpf_map_delete_elem(nw_fd, &key);
	if (e->newstate == 7) {
		for (int i = 0; i < MAX_WATCH; i++)
			if (watch[i].sk == e->sk) {
				for (int c = 0; c < ncpu; c++) close(watch[i].fds[c]);
				watch[i].sk = 0;
			}
		return 0;
	}
	for (int i = 0; i < MAX_WATCH; i++) {
		if (watch[i].sk) continue;
		struct perf_event_attr a;
		memset(&a, 0, sizeof a);
		a.type = PERF_TYPE_BREAKPOINT;
		a.size = sizeof a;
		a.bp_type = HW_BREAKPOINT_W;
		a.bp_addr = e->sk + e->ss_off;
		a.bp_len = HW_BREAKPOINT_LEN_4;
		a.sample_period = 1;
		a.wakeup_events = 1;
		int c, ok = 1;
		for (c = 0; c < ncpu; c++) {
			int fd = syscall(SYS_perf_event_open, &a, -1, c, -1, PERF_FLAG_FD_CLOEXEC);
			if (fd < 0 || ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd) || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
				fprintf(stderr, "breakpoint on cpu %d at %llx: %s\n", c, a.bp_addr, strerror(errno));
				if (fd >= 0) close(fd);
				ok = 0;
				break;
			}
			watch[i].fds[c] = fd;
		}
		if (!ok) {
			while (c-- > 0) close(watch[i].fds[c]);
			nskipped++;
			return 0;
		}
		watch[i].sk = e->sk;
		watch[i].addr = a.bp_addr;
		watch[i].syn_ts = e->ts;
		{
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			long long lag = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec - (long long)e->ts;
			if (lag > arm_lag_max_ns) arm_lag_max_ns = lag;
		}
		nwatched++;
		return 0;
	}
	nskipped++;
	return 0;
}

static int on_hit(void *ctx, void *data, size_t size)
{
	const struct hit *h = data;
	char s[128];
	(void)ctx; (void)size;
	nhits++;
	for (int i = 0; i < MAX_WATCH; i++)
		if (watch[i].addr == h->addr) {
			unsigned long long perf = 0, c, seen = 0;
			for (int k = 0; k < ncpu; k++)
				if (read(watch[i].fds[k], &c, sizeof c) == sizeof c) perf += c;
			bpf_map_lookup_elem(nw_fd, &h->addr, &seen);
			printf("(%.1f ms after connect; writes: perf counted %llu, the program saw %llu)\n",
			       (h->ts - watch[i].syn_ts) / 1e6, perf, seen);
		}
	sym(h->ip, s, sizeof s);
	printf("HIT ts=%llu sk=%llx old=0x%x (%u) clamp=%u val=0x%x (%u) cpu=%u comm=%s ca=%.16s state=%u cwnd=%u prior_cwnd=%u prior_ss=%u ops=%llx ssthresh_fn=%llx\n  writer ip %s\n",
	       h->ts, h->addr, h->old, h->old, h->clamp, h->val, h->val, h->cpu, h->comm, h->ca, h->ca_state, h->cwnd, h->prior_cwnd,
	       h->prior_ss, h->ops, h->ssfn, s);
	for (long long i = 0; i < h->stack_len / 8 && i < 48; i++) {
		sym(h->stack[i], s, sizeof s);
		printf("    %s\n", s);
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct ring_buffer *rb;
	struct bpf_link *link;
	if (argc < 2) { fprintf(stderr, "usage: %s ssthresh_watch.bpf.o\n", argv[0]); return 2; }
	ncpu = libbpf_num_possible_cpus();
	if (ncpu > MAX_CPU) ncpu = MAX_CPU;
	load_syms();
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) { fprintf(stderr, "load failed\n"); return 1; }
	link = bpf_program__attach(bpf_object__find_program_by_name(obj, "on_state"));
	if (!link) { fprintf(stderr, "attach on_state failed\n"); return 1; }
	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "on_write"));
	last_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "last"));
	nw_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "nw"));
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "evs")), on_ev, NULL, NULL);
	ring_buffer__add(rb, bpf_map__fd(bpf_object__find_map_by_name(obj, "hits")), on_hit, NULL);
	signal(SIGINT, onsig);
	signal(SIGTERM, onsig);
	fprintf(stderr, "watching (%d cpus)\n", ncpu);
	time_t last = time(NULL);
	while (!stop) {
		ring_buffer__poll(rb, 200);
		if (time(NULL) - last >= 30) {
			last = time(NULL);
			fprintf(stderr, "[%ld] subflows watched %lld, skipped %lld, hits %lld, arm lag max %.2f ms\n", (long)last, nwatched, nskipped, nhits, arm_lag_max_ns / 1e6);
		}
	}
	/* Writers by instruction address. */
	int wfd = bpf_map__fd(bpf_object__find_map_by_name(obj, "writers"));
	unsigned long long k, nk, v;
	int more = bpf_map_get_next_key(wfd, NULL, &k) == 0;
	printf("writers of snd_ssthresh (subflows watched %lld, skipped %lld, suspicious %lld):\n", nwatched, nskipped, nhits);
	while (more) {
		char s[128];
		if (!bpf_map_lookup_elem(wfd, &k, &v)) { sym(k, s, sizeof s); printf("  %8llu  %s\n", v, s); }
		more = bpf_map_get_next_key(wfd, &k, &nk) == 0;
		k = nk;
	}
	for (int i = 0; i < MAX_WATCH; i++)
		if (watch[i].sk) for (int c = 0; c < ncpu; c++) close(watch[i].fds[c]);
	return 0;
}
