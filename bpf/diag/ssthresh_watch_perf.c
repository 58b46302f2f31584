/*
 * Second loader for the corrupt-ssthresh investigation (see ssthresh_watch.bpf.c). Not part of the
 * product. Same arming as ssthresh_watch.c (a write breakpoint on &tp->snd_ssthresh of each new
 * "mpst_*" subflow, from connect to close), but no BPF program on the breakpoint: perf itself
 * samples every write (IP, CPU, time, kernel callchain) into an mmap ring. A BPF overflow handler
 * is skipped while the CPU's bpf_prog_active is held, and ssthresh_watch.c found the perf count one
 * or two writes above what its program saw exactly where the anomaly's repair followed; perf's
 * own samples have no such guard. When this CC's repair writes ssthresh (a write from BPF JIT
 * code), the subflow's previous writes are printed with their callchains.
 *   cc -O1 bpf/diag/ssthresh_watch_perf.c -o watchp -lbpf && ./watchp ssthresh_watch.bpf.o
 *   ./watchp ssthresh_watch.bpf.o --rw REPAIR_IP   reads too (HW_BREAKPOINT_RW): every access to
 *       snd_ssthresh with the registers after it, so the value each read returned is visible; a
 *       repair is then the one JIT address REPAIR_IP (from a write-only run's writer table).
 */
#include <errno.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MAX_WATCH 4
#define MAX_CPU 8
#define RING_PAGES 8
#define HIST 24
#define MAX_FRAMES 40

struct sk_ev { unsigned long long ts, sk; unsigned ss_off, newstate; unsigned short sport, dport; char ca[16]; };
/* Registers at the breakpoint (PERF_SAMPLE_REGS_INTR, x86 perf_regs order): AX BX CX DX SI DI BP SP IP, R8..R15. */
#define REGS_MASK (0x1ffULL | (0xffULL << 16))
static const char *const reg_names[] = {"ax", "bx", "cx", "dx", "si", "di", "bp", "sp", "ip", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
#define NREGS 17
struct sample { unsigned long long ip, time; unsigned cpu, pid, nframes; unsigned long long frames[MAX_FRAMES]; unsigned long long regs[NREGS]; int has_regs; };
struct watch {
	unsigned long long sk, addr, syn_ts;
	int fds[MAX_CPU];
	void *rings[MAX_CPU];
	struct sample hist[HIST];
	unsigned nhist;
};
static struct watch watch[MAX_WATCH];
static int ncpu;
static long page_size;
static long long nwatched, nskipped, nrepairs, nsamples, nlost;
static volatile int stop;
static int rw_mode;
static unsigned long long repair_ip;
static void onsig(int s) { (void)s; stop = 1; }

#include "ksym.h"

/* Writer IP histogram. */
static struct { unsigned long long ip, n; } writers[512];
static void count_writer(unsigned long long ip)
{
	for (int i = 0; i < 512; i++) {
		if (writers[i].ip == ip) { writers[i].n++; return; }
		if (!writers[i].ip) { writers[i].ip = ip; writers[i].n = 1; return; }
	}
}

static void print_sample(const struct watch *w, const struct sample *s, const char *tag)
{
	char b[160];
	sym(s->ip, b, sizeof b);
	printf("  %s access at +%.3f ms cpu %u pid %u ip %s\n", tag, (s->time - w->syn_ts) / 1e6, s->cpu, s->pid, b);
	if (s->has_regs) {
		printf("      regs:");
		for (int r = 0; r < NREGS; r++) {
			if (r == 8) continue;
			printf(" %s=%llx%s", reg_names[r], s->regs[r],
			       s->regs[r] == w->sk ? "(=sk)" : (unsigned)s->regs[r] == (unsigned)w->sk ? "(low32=sk)" : "");
		}
		printf("\n");
	}
	for (unsigned i = 0; i < s->nframes; i++) {
		sym(s->frames[i], b, sizeof b);
		printf("      %s\n", b);
	}
}

static void on_sample(struct watch *w, struct sample *s)
{
	nsamples++;
	count_writer(s->ip);
	if (rw_mode ? s->ip == repair_ip : s->ip >= 0xffffffffa0000000ULL) {
		nrepairs++;
		printf("REPAIR #%lld on sk %llx (%.1f ms after connect); the subflow's writes of snd_ssthresh so far:\n",
		       nrepairs, w->sk, (s->time - w->syn_ts) / 1e6);
		unsigned first = w->nhist > HIST ? w->nhist - HIST : 0;
		for (unsigned i = first; i < w->nhist; i++) print_sample(w, &w->hist[i % HIST], "   ");
		print_sample(w, s, "REPAIR");
		fflush(stdout);
	}
	w->hist[w->nhist % HIST] = *s;
	w->nhist++;
}

static void drain(struct watch *w, int c)
{
	struct perf_event_mmap_page *meta = w->rings[c];
	unsigned char *data = (unsigned char *)meta + page_size;
	unsigned long long size = (unsigned long long)RING_PAGES * page_size;
	unsigned long long head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE), tail = meta->data_tail;
	unsigned char rec[8192];
	while (tail < head) {
		struct perf_event_header hdr;
		for (unsigned i = 0; i < sizeof hdr; i++) ((unsigned char *)&hdr)[i] = data[(tail + i) % size];
		if (hdr.size == 0 || hdr.size > sizeof rec) break;
		for (unsigned i = 0; i < hdr.size; i++) rec[i] = data[(tail + i) % size];
		if (hdr.type == PERF_RECORD_SAMPLE) {
			/* sample_type IP | TID | TIME | CPU | CALLCHAIN | REGS_INTR, in that order (perf_event.h). */
			unsigned long long *p = (unsigned long long *)(rec + sizeof hdr);
			struct sample s = {0};
			s.ip = *p++;
			s.pid = (unsigned)(*p & 0xffffffff);
			p++;
			s.time = *p++;
			s.cpu = (unsigned)(*p & 0xffffffff);
			p++;
			unsigned long long nr = *p++;
			for (unsigned long long i = 0; i < nr; i++) {
				unsigned long long f = p[i];
				if (f >= (unsigned long long)-4095) continue; /* PERF_CONTEXT_* markers */
				if (s.nframes < MAX_FRAMES) s.frames[s.nframes++] = f;
			}
			p += nr;
			if (*p++ != 0) { /* abi: PERF_SAMPLE_REGS_ABI_NONE means no regs */
				for (int r = 0; r < NREGS; r++) s.regs[r] = *p++;
				s.has_regs = 1;
			}
			on_sample(w, &s);
		} else if (hdr.type == PERF_RECORD_LOST) {
			nlost++;
		}
		tail += hdr.size;
	}
	__atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
}

static void unwatch(struct watch *w)
{
	for (int c = 0; c < ncpu; c++) {
		drain(w, c);
		munmap(w->rings[c], (RING_PAGES + 1) * page_size);
		close(w->fds[c]);
	}
	memset(w, 0, sizeof *w);
}

static int on_ev(void *ctx, void *data, size_t size)
{
	const struct sk_ev *e = data;
	(void)ctx; (void)size;
	if (e->newstate == 7) {
		for (int i = 0; i < MAX_WATCH; i++)
			if (watch[i].sk == e->sk) unwatch(&watch[i]);
		return 0;
	}
	for (int i = 0; i < MAX_WATCH; i++) {
		struct watch *w = &watch[i];
		if (w->sk) continue;
		struct perf_event_attr a;
		memset(&a, 0, sizeof a);
		a.type = PERF_TYPE_BREAKPOINT;
		a.size = sizeof a;
		a.bp_type = rw_mode ? HW_BREAKPOINT_RW : HW_BREAKPOINT_W;
		a.bp_addr = e->sk + e->ss_off;
		a.bp_len = HW_BREAKPOINT_LEN_4;
		a.sample_period = 1;
		a.wakeup_events = 1;
		a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_CALLCHAIN |
				PERF_SAMPLE_REGS_INTR;
		a.sample_regs_intr = REGS_MASK;
		a.exclude_callchain_user = 1;
		a.use_clockid = 1;
		a.clockid = CLOCK_MONOTONIC; /* same clock as bpf_ktime_get_ns() */
		int c;
		for (c = 0; c < ncpu; c++) {
			int fd = syscall(SYS_perf_event_open, &a, -1, c, -1, PERF_FLAG_FD_CLOEXEC);
			void *ring = fd < 0 ? MAP_FAILED : mmap(NULL, (RING_PAGES + 1) * page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (fd < 0 || ring == MAP_FAILED) {
				fprintf(stderr, "breakpoint on cpu %d at %llx: %s\n", c, a.bp_addr, strerror(errno));
				if (fd >= 0) close(fd);
				break;
			}
			w->fds[c] = fd;
			w->rings[c] = ring;
		}
		if (c < ncpu) {
			while (c-- > 0) { munmap(w->rings[c], (RING_PAGES + 1) * page_size); close(w->fds[c]); }
			nskipped++;
			return 0;
		}
		w->sk = e->sk;
		w->addr = a.bp_addr;
		w->syn_ts = e->ts;
		w->nhist = 0;
		nwatched++;
		return 0;
	}
	nskipped++;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) { fprintf(stderr, "usage: %s ssthresh_watch.bpf.o\n", argv[0]); return 2; }
	page_size = sysconf(_SC_PAGESIZE);
	if (argc > 3 && !strcmp(argv[2], "--rw")) {
		rw_mode = 1;
		repair_ip = strtoull(argv[3], NULL, 16);
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu > MAX_CPU) { fprintf(stderr, "more than %d CPUs\n", MAX_CPU); return 1; }
	load_syms();
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) { fprintf(stderr, "open failed\n"); return 1; }
	/* Only the arming tracepoint: the breakpoints get no program here. */
	bpf_program__set_autoload(bpf_object__find_program_by_name(obj, "on_write"), false);
	if (bpf_object__load(obj)) { fprintf(stderr, "load failed\n"); return 1; }
	if (!bpf_program__attach(bpf_object__find_program_by_name(obj, "on_state"))) { fprintf(stderr, "attach failed\n"); return 1; }
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "evs")), on_ev, NULL, NULL);
	signal(SIGINT, onsig);
	signal(SIGTERM, onsig);
	fprintf(stderr, "watching (%d cpus)\n", ncpu);
	time_t last = time(NULL);
	while (!stop) {
		ring_buffer__poll(rb, 2);
		for (int i = 0; i < MAX_WATCH; i++)
			if (watch[i].sk)
				for (int c = 0; c < ncpu; c++) drain(&watch[i], c);
		if (time(NULL) - last >= 30) {
			last = time(NULL);
			fprintf(stderr, "[%ld] subflows watched %lld, skipped %lld, samples %lld, lost %lld, repairs %lld\n",
				(long)last, nwatched, nskipped, nsamples, nlost, nrepairs);
		}
	}
	for (int i = 0; i < MAX_WATCH; i++) if (watch[i].sk) unwatch(&watch[i]);
	printf("writers of snd_ssthresh (subflows watched %lld, skipped %lld, samples %lld, lost %lld, repairs %lld):\n",
	       nwatched, nskipped, nsamples, nlost, nrepairs);
	for (int i = 0; i < 512 && writers[i].ip; i++) {
		char b[160];
		sym(writers[i].ip, b, sizeof b);
		printf("  %8llu  %s\n", writers[i].n, b);
	}
	return 0;
}
