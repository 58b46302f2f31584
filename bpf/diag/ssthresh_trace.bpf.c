// SPDX-License-Identifier: GPL-2.0
/*
 * Investigation tool for the corrupt-ssthresh anomaly (bpf/mptcp_coupled.h, cc_sanitize()).
 * Not part of the product. Raw tracepoints (fentry/fexit are refused on the dev machine: EPERM)
 * record, for every subflow whose CC name starts with "mpst_" (the test copies), each event's
 * ssthresh, cwnd, ca_state, prior_* and the CC ops pointer into a ring of the last 32768 events,
 * and freeze 2000 events after the first corrupt ssthresh / cwnd (> 5000), with a kernel stack.
 *   clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I<dir of vmlinux.h> -c ssthresh_trace.bpf.c
 *   gcc -O1 ssthresh_trace_loader.c -o loader -lbpf && ./loader   (run from the .o's directory)
 *   python3 ssthresh_trace_dump.py    (while the loader runs; it pins /sys/fs/bpf/anom_*)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
char _license[] SEC("license") = "GPL";
#define RING 32768
struct ev { u64 ts; u64 sk; u64 ops; u64 ssfn; u64 name8; u32 kind; u32 arg; u32 ss; u32 cwnd; u32 state; u32 prior_ss; u32 prior_cwnd; u32 cpu; s32 stackid; u32 una; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, RING); __type(key, u32); __type(value, struct ev); } ring SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK_TRACE); __uint(max_entries, 4096); __uint(key_size, 4); __uint(value_size, 127*8); } stacks SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 4096); __type(key, u64); __type(value, u32); } known SEC(".maps");
u64 seq = 0;     /* events written */
u64 firstbad = 0; /* seq+1 of the first event with a bad ssthresh */
u64 nbad = 0;
static __always_inline int rec(void *ctx, struct sock *sk, u32 kind, u32 arg)
{
	struct inet_connection_sock *icsk = (void *)sk;
	struct tcp_sock *tp = (void *)sk;
	const struct tcp_congestion_ops *ops;
	char name[6] = {};
	struct ev *e;
	u32 idx, ss;
	u64 s;

	if (!sk) return 0;
	ops = BPF_CORE_READ(icsk, icsk_ca_ops);
	if (!ops) return 0;
	{
		u64 key = (u64)sk; u32 one = 1;
		bpf_probe_read_kernel(name, 5, ops->name);
		if (name[0] != 'm' || name[1] != 'p' || name[2] != 's' || name[3] != 't' || name[4] != '_') {
			if (!bpf_map_lookup_elem(&known, &key))
				return 0;
		} else if (kind == 6 && arg == 7) {
			bpf_map_delete_elem(&known, &key);
		} else {
			bpf_map_update_elem(&known, &key, &one, BPF_ANY);
		}
	}
	if (firstbad && seq > firstbad + 2000)
		return 0;
	ss = BPF_CORE_READ(tp, snd_ssthresh);
	s = __sync_fetch_and_add(&seq, 1);
	idx = s % RING;
	e = bpf_map_lookup_elem(&ring, &idx);
	if (!e) return 0;
	e->ts = bpf_ktime_get_ns(); e->ops = (u64)ops; e->ssfn = (u64)BPF_CORE_READ(ops, ssthresh); bpf_probe_read_kernel(&e->name8, 8, ops->name); e->sk = (u64)sk; e->kind = kind; e->arg = arg; e->ss = ss;
	e->cwnd = BPF_CORE_READ(tp, snd_cwnd);
	e->state = BPF_CORE_READ_BITFIELD_PROBED(icsk, icsk_ca_state);
	e->prior_ss = BPF_CORE_READ(tp, prior_ssthresh);
	e->prior_cwnd = BPF_CORE_READ(tp, prior_cwnd);
	e->una = BPF_CORE_READ(tp, snd_una);
	e->cpu = bpf_get_smp_processor_id();
	e->stackid = -1;
	if ((ss > 5000 && ss != 0x7fffffff) || e->cwnd > 5000) {
		__sync_fetch_and_add(&nbad, 1);
		if (!firstbad) { firstbad = s + 1; }
		e->stackid = bpf_get_stackid(ctx, &stacks, 0);
	}
	return 0;
}
SEC("raw_tp/tcp_cong_state_set") int k1(u64 *ctx) { return rec(ctx, (void *)ctx[0], 1, (u32)ctx[1]); }
SEC("raw_tp/tcp_cwnd_reduction_tp") int k2(u64 *ctx) { return rec(ctx, (void *)ctx[0], 2, (u32)ctx[1]); }
SEC("raw_tp/tcp_probe") int k3(u64 *ctx) { return rec(ctx, (void *)ctx[0], 3, 0); }
SEC("raw_tp/tcp_retransmit_skb") int k4(u64 *ctx) { return rec(ctx, (void *)ctx[0], 4, (u32)ctx[2]); }
SEC("raw_tp/tcp_sendmsg_locked") int k5(u64 *ctx) { return rec(ctx, (void *)ctx[0], 5, (u32)ctx[3]); }
SEC("raw_tp/inet_sock_set_state") int k6(u64 *ctx) { return rec(ctx, (void *)ctx[0], 6, (u32)ctx[2]); }
SEC("raw_tp/mptcp_subflow_get_send") int k7(u64 *ctx) {
	struct mptcp_subflow_context *sf = (void *)ctx[0];
	return rec(ctx, BPF_CORE_READ(sf, tcp_sock), 7, 0);
}
SEC("raw_tp/sock_send_length") int k8(u64 *ctx) { return rec(ctx, (void *)ctx[0], 8, (u32)ctx[1]); }
SEC("raw_tp/tcp_destroy_sock") int k9(u64 *ctx) { return rec(ctx, (void *)ctx[0], 9, 0); }
SEC("raw_tp/tcp_rcv_space_adjust") int k10(u64 *ctx) { return rec(ctx, (void *)ctx[0], 10, 0); }
SEC("raw_tp/sock_recv_length") int k11(u64 *ctx) { return rec(ctx, (void *)ctx[0], 11, (u32)ctx[1]); }
SEC("raw_tp/tcp_rcvbuf_grow") int k12(u64 *ctx) { return rec(ctx, (void *)ctx[0], 12, (u32)ctx[1]); }
