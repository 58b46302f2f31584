// SPDX-License-Identifier: GPL-2.0
/*
 * Investigation tool for the corrupt-ssthresh anomaly (bpf/mptcp_coupled.h, cc_sanitize()).
 * Not part of the product. A hardware write watchpoint on tp->snd_ssthresh of every MPTCP subflow
 * whose CC name starts with "mpst_" (the test copies), at most 4 at a time (x86 debug registers):
 * every write is counted by instruction address, and a write that leaves a value above 100000
 * (other than TCP_INFINITE_SSTHRESH) is reported with the writer's kernel stack. The breakpoint
 * traps right after the writing instruction, so the stack names the writer, whatever the path.
 * Loader and report: ssthresh_watch.c (it opens the perf breakpoints and attaches on_write).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
char _license[] SEC("license") = "GPL";

#define TCP_ESTABLISHED_ 1
#define TCP_CLOSE_ 7
#define TCP_SYN_SENT_ 2

struct sk_ev {
	u64 ts;
	u64 sk;
	u32 ss_off;
	u32 newstate;
	u16 sport;
	u16 dport;
	char ca[16];
};

struct hit {
	u64 ts;
	u64 addr;
	u64 ip;
	u32 old;
	u32 clamp;
	u32 val;
	u32 cpu;
	u32 cwnd;
	u32 prior_cwnd;
	u32 prior_ss;
	u32 ca_state;
	s64 stack_len;
	u64 ops;
	u64 ssfn;
	char ca[16];
	char comm[16];
	u64 stack[48];
};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 18); } evs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } hits SEC(".maps");
/* Watched address -> the value its last write left (the value before a write, at the next). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, u64); __type(value, u32); } last SEC(".maps");
/* Watched address -> writes this program saw (the perf event's own count may be higher: the
 * handler skips the program while another BPF program of the tracing kind runs on the CPU). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, u64); __type(value, u64); } nw SEC(".maps");
/* Writer instruction address -> writes seen (the normal writers, for comparison). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 256); __type(key, u64); __type(value, u64); } writers SEC(".maps");

u64 writes = 0;
u64 bad = 0;

SEC("raw_tp/inet_sock_set_state")
int on_state(u64 *ctx)
{
	struct sock *sk = (void *)ctx[0];
	int newstate = (int)ctx[2];
	struct inet_connection_sock *icsk = (void *)sk;
	const struct tcp_congestion_ops *ops;
	struct sk_ev *e;
	char name[16] = {};

	int oldstate = (int)ctx[1];

	/* Senders only: the active opener's subflows, armed at connect (CLOSE -> SYN_SENT) so that
	 * every write from the handshake on is seen, and every close. */
	if (!(newstate == TCP_SYN_SENT_ && oldstate == TCP_CLOSE_) && newstate != TCP_CLOSE_)
		return 0;
	if (!BPF_CORE_READ(icsk, icsk_ulp_ops))
		return 0;
	ops = BPF_CORE_READ(icsk, icsk_ca_ops);
	if (!ops)
		return 0;
	bpf_probe_read_kernel(name, sizeof(name), ops->name);
	if (name[0] != 'm' || name[1] != 'p' || name[2] != 's' || name[3] != 't' || name[4] != '_')
		return 0;
	e = bpf_ringbuf_reserve(&evs, sizeof(*e), 0);
	if (!e)
		return 0;
	e->ts = bpf_ktime_get_ns();
	e->sk = (u64)sk;
	e->ss_off = bpf_core_field_offset(struct tcp_sock, snd_ssthresh);
	e->newstate = newstate;
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memcpy(e->ca, name, sizeof(name));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("perf_event")
int on_write(struct bpf_perf_event_data *ctx)
{
	u64 addr = ctx->addr, ip = PT_REGS_IP(&ctx->regs), one = 1, *n;
	u32 off = bpf_core_field_offset(struct tcp_sock, snd_ssthresh);
	struct tcp_sock *tp = (void *)(addr - off);
	struct inet_connection_sock *icsk = (void *)tp;
	const struct tcp_congestion_ops *ops;
	struct hit *h;
	u32 v = 0;

	u32 old = 0, *lastv;
	bool jit = ip >= 0xffffffffa0000000ULL; /* not kernel text: module area, where BPF JITs live */

	bpf_probe_read_kernel(&v, sizeof(v), (void *)addr);
	__sync_fetch_and_add(&writes, 1);
	n = bpf_map_lookup_elem(&nw, &addr);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&nw, &addr, &one, BPF_NOEXIST);
	lastv = bpf_map_lookup_elem(&last, &addr);
	if (lastv) {
		old = *lastv;
		*lastv = v;
	} else {
		bpf_map_update_elem(&last, &addr, &v, BPF_ANY);
		old = 0xffffffff;
	}
	n = bpf_map_lookup_elem(&writers, &ip);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&writers, &ip, &one, BPF_NOEXIST);
	/* A suspicious value, or a write by BPF code (this CC's repair: what did it repair?). */
	if ((v <= 65536 || v == 0x7fffffff) && !jit)
		return 0;
	if (!jit)
		__sync_fetch_and_add(&bad, 1);
	h = bpf_ringbuf_reserve(&hits, sizeof(*h), 0);
	if (!h)
		return 0;
	h->ts = bpf_ktime_get_ns();
	h->addr = addr;
	h->ip = ip;
	h->val = v;
	h->old = old;
	h->clamp = BPF_CORE_READ(tp, snd_cwnd_clamp);
	h->cpu = bpf_get_smp_processor_id();
	h->cwnd = BPF_CORE_READ(tp, snd_cwnd);
	h->prior_cwnd = BPF_CORE_READ(tp, prior_cwnd);
	h->prior_ss = BPF_CORE_READ(tp, prior_ssthresh);
	h->ca_state = BPF_CORE_READ_BITFIELD_PROBED(icsk, icsk_ca_state);
	ops = BPF_CORE_READ(icsk, icsk_ca_ops);
	h->ops = (u64)ops;
	h->ssfn = (u64)BPF_CORE_READ(ops, ssthresh);
	bpf_probe_read_kernel(h->ca, sizeof(h->ca), ops->name);
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	h->stack_len = bpf_get_stack(ctx, h->stack, sizeof(h->stack), 0);
	bpf_ringbuf_submit(h, 0);
	return 0;
}
