// SPDX-License-Identifier: GPL-2.0
/*
 * Investigation tool for the corrupt-ssthresh anomaly (bpf/mptcp_coupled.h). Not part of the
 * product. The smallest BPF congestion control: Reno through the kernel's own kfuncs, no map
 * besides its counters, no bpf_loop, no walk to the MPTCP socket. It counts (and repairs, like
 * cc_sanitize) a finite ssthresh above 2^16 seen in in_ack_event / set_state / cong_avoid. If the
 * anomaly shows here too, it comes with BPF struct_ops congestion control itself, not with what
 * the coupled algorithms do.
 *   clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I.cache/bpf -c bpf/diag/reno_probe.bpf.c -o P.o
 *   bpftool struct_ops register P.o
 *   node bench/cc.mjs --only none --cc mpst_x_reno --runs 1 --anomaly-runs 500
 *   bpftool map dump name reno_pro.bss; bpftool struct_ops unregister name mpst_x_reno
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char _license[] SEC("license") = "GPL";

#define INF 0x7fffffffU
#define BOUND (1U << 16)

extern void tcp_reno_cong_avoid(struct sock *sk, __u32 ack, __u32 acked) __ksym;
extern __u32 tcp_reno_ssthresh(struct sock *sk) __ksym;
extern __u32 tcp_reno_undo_cwnd(struct sock *sk) __ksym;

__u64 seen = 0;     /* corrupt ssthresh values seen (and repaired) */
__u64 last_bad = 0; /* the last one, and the socket, for the report */
__u64 last_sk = 0;

static __always_inline void check(struct sock *sk)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u32 ss = tp->snd_ssthresh;

	if (ss != INF && ss > BOUND) {
		__sync_fetch_and_add(&seen, 1);
		last_bad = ss;
		last_sk = (__u64)sk;
		tp->snd_ssthresh = tp->prior_cwnd > 4 ? tp->prior_cwnd >> 1 : 2;
	}
	if (tp->snd_cwnd > BOUND)
		tp->snd_cwnd = BOUND;
}

SEC("struct_ops")
void BPF_PROG(rp_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	check(sk);
	tcp_reno_cong_avoid(sk, ack, acked);
}

SEC("struct_ops")
__u32 BPF_PROG(rp_ssthresh, struct sock *sk)
{
	return tcp_reno_ssthresh(sk);
}

SEC("struct_ops")
__u32 BPF_PROG(rp_undo_cwnd, struct sock *sk)
{
	return tcp_reno_undo_cwnd(sk);
}

SEC("struct_ops")
void BPF_PROG(rp_set_state, struct sock *sk, __u8 new_state)
{
	check(sk);
}

SEC("struct_ops")
void BPF_PROG(rp_in_ack_event, struct sock *sk, __u32 flags)
{
	check(sk);
}

SEC(".struct_ops")
struct tcp_congestion_ops mpst_x_reno = {
	.cong_avoid = (void *)rp_cong_avoid,
	.ssthresh = (void *)rp_ssthresh,
	.undo_cwnd = (void *)rp_undo_cwnd,
	.set_state = (void *)rp_set_state,
	.in_ack_event = (void *)rp_in_ack_event,
	.flags = 0x1, /* TCP_CONG_NON_RESTRICTED */
	.name = "mpst_x_reno",
};
