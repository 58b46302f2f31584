// SPDX-License-Identifier: GPL-2.0
/*
 * mptcp_olia: the Opportunistic Linked Increases Algorithm (R. Khalili, N. Gast, M. Popovic,
 * J.-Y. Le Boudec, "MPTCP is not Pareto-optimal: performance issues and a possible solution",
 * IEEE/ACM ToN 2013) for upstream Linux MPTCP, as a BPF struct_ops tcp_congestion_ops.
 * Shared machinery (coupling map, clamps): mptcp_coupled.h.
 *
 * On each ACK on path r, in congestion avoidance, cwnd_r grows (in packets, per acked packet) by
 *     (w_r / rtt_r^2) / (sum_p w_p / rtt_p)^2  +  eps_r / w_r
 * The first term is w_r / S_r^2 with S_r = sum_p w_p * rtt_r / rtt_p (a pure count of packets).
 * eps_r moves window from the paths with the largest windows (set M) to the "best" paths (B: the
 * largest l_p^2 / rtt_p^2, i.e. the largest l_p / rtt_p^2 ranking-wise, where l_p is the number
 * of bytes acked between the last two losses, or since the last loss if larger) that do not
 * already have the largest window:
 *     eps_r = +1 / (n * |B\M|)  if r in B\M,
 *     eps_r = -1 / (n * |M|)    if r in M and B\M is not empty,
 *     eps_r = 0                 otherwise          (n = number of paths).
 * The loss distance follows the multipath-tcp.org implementation: loss1/loss2 are snd_una at the
 * last two loss events (entering Recovery, Loss or CWR, not counting RTO back-offs), loss3 is
 * snd_una now; l = max(loss3 - loss2, loss2 - loss1) in u32 sequence arithmetic (wrap-safe).
 * Slow start and the decrease are Reno's, as in the paper.
 *
 * Fixed point: the per-ACK increase is accumulated in olia_cnt with OLIA_ONE = 2^20 = one packet,
 * signed (eps_r can be negative). BPF has no signed division before ISA v4, so the magnitudes are
 * divided unsigned and the sign is applied afterwards. The ranking value is
 *     q_p = (l_p << 31) / rtt_p / rtt_p     (l_p < 2^32, so l_p << 31 < 2^63)
 * and all other products are bounded as in LIA (cwnd <= 2^16, rtt <= 2^22 us).
 */
#include "mptcp_coupled.h"

#define OLIA_SHIFT 20
#define OLIA_ONE (1LL << OLIA_SHIFT)

struct olia_view {
	u32 token;        /* connection entry to scan */
	u32 my_rtt;       /* rtt_r of the path being updated, us */
	u64 sum_scaled;   /* S_r = sum_p w_p * rtt_r / rtt_p */
	u64 best_q;       /* max_p q_p */
	u32 max_w;        /* max_p w_p */
	u32 n;            /* paths with a published window and RTT */
	u32 in_m;         /* |M| */
	u32 b_not_m;      /* |B \ M| */
};

static __always_inline u64 olia_quality(u32 inter_loss, u32 rtt)
{
	return ((u64)inter_loss << 31) / rtt / rtt;
}

/* Read slot i into (cwnd, rtt, q); false if the slot holds no usable path. */
static __always_inline bool olia_slot(u32 token, u32 i, u32 *cwnd, u32 *rtt, u64 *q)
{
	u32 inter_loss = 0;

	if (!cc_read_slot(token, i, cwnd, rtt, &inter_loss))
		return false;
	*q = olia_quality(inter_loss, *rtt);
	return true;
}

/*
 * The two scans over the slots run as bpf_loop() callbacks: written as inline loops, the
 * verifier walks every combination of "slot usable / larger than the max so far / equal to the
 * best" across the 8 slots and gives up at its 1M-instruction budget. A callback is verified once.
 */
static long olia_scan_totals(u32 i, void *data)
{
	struct olia_view *v = data;
	u32 cwnd = 0, rtt = 1;
	u64 q = 0;

	if (!olia_slot(v->token, i, &cwnd, &rtt, &q))
		return 0;
	v->n++;
	v->sum_scaled += (u64)cwnd * v->my_rtt / rtt;
	if (cwnd > v->max_w)
		v->max_w = cwnd;
	if (q > v->best_q)
		v->best_q = q;
	return 0;
}

static long olia_scan_sets(u32 i, void *data)
{
	struct olia_view *v = data;
	u32 cwnd = 0, rtt = 1;
	u64 q = 0;

	if (!olia_slot(v->token, i, &cwnd, &rtt, &q))
		return 0;
	if (cwnd == v->max_w)
		v->in_m++;
	else if (q == v->best_q)
		v->b_not_m++;
	return 0;
}

SEC("struct_ops")
void BPF_PROG(olia_init, struct sock *sk)
{
	struct coupled_priv *ca = cc_init(sk);
	u32 una = cc_tcp_sk(sk)->snd_una;

	ca->loss1 = una;
	ca->loss2 = una;
	ca->loss3 = una;
	ca->olia_cnt = 0;
}

SEC("struct_ops")
void BPF_PROG(olia_release, struct sock *sk)
{
	cc_release(sk);
}

static __always_inline u32 olia_inter_loss(const struct coupled_priv *ca)
{
	u32 l_now = ca->loss3 - ca->loss2, l_prev = ca->loss2 - ca->loss1;

	return cc_max(l_now, l_prev);
}

SEC("struct_ops")
void BPF_PROG(olia_cong_avoid, struct sock *sk, u32 ack, u32 acked)
{
	struct tcp_sock *tp = cc_tcp_sk(sk);
	struct coupled_priv *ca = cc_priv(sk);
	struct conn_state *conn = NULL;
	struct subflow_slot *me;
	struct olia_view v = {};
	u32 w, my_rtt;
	u64 term1, term2 = 0, inc;
	s64 cnt;
	bool negative = false;

	cc_sanitize(sk);
	me = cc_coupled_or_reno(sk, ca, &conn, acked);
	if (!me)
		return;
	ca->loss3 = tp->snd_una;
	cc_publish(sk, me, olia_inter_loss(ca));
	acked = cc_slow_start_part(tp, acked);
	if (!acked)
		return;

	w = cc_max(cc_min(tp->snd_cwnd, CC_MAX_CWND), 1);
	my_rtt = cc_min(cc_max(tp->srtt_us >> 3, 1), CC_MAX_RTT_US);
	v.token = ca->token;
	v.my_rtt = my_rtt;
	bpf_loop(MAX_SUBFLOWS, olia_scan_totals, &v, 0);
	bpf_loop(MAX_SUBFLOWS, olia_scan_sets, &v, 0);
	if (v.sum_scaled < w)
		v.sum_scaled = w; /* our own slot may not be counted yet: S_r >= w_r always */

	/* w_r / S_r^2 in OLIA_ONE units: (w << 20) <= 2^36, divided twice by S >= w >= 1. */
	term1 = (((u64)w << OLIA_SHIFT) / v.sum_scaled) / v.sum_scaled;
	if (v.b_not_m && v.n) {
		u64 my_q = olia_quality(olia_inter_loss(ca), my_rtt);

		if (w < v.max_w && my_q == v.best_q) {
			term2 = (u64)OLIA_ONE / ((u64)v.n * v.b_not_m * w);
		} else if (w == v.max_w && v.in_m) {
			term2 = (u64)OLIA_ONE / ((u64)v.n * v.in_m * w);
			negative = true;
		}
	}
	acked = cc_min(acked, CC_MAX_CWND);
	if (negative && term2 > term1) {
		inc = (term2 - term1) * acked;
		cnt = ca->olia_cnt - (s64)inc;
	} else {
		inc = (negative ? term1 - term2 : term1 + term2) * acked;
		cnt = ca->olia_cnt + (s64)inc;
	}

	if (cnt >= OLIA_ONE) {
		u64 pkts = (u64)cnt >> OLIA_SHIFT;

		/* At most one window per ACK, like slow start; the remainder carries over. */
		if (pkts > w)
			pkts = w;
		cnt -= (s64)(pkts << OLIA_SHIFT);
		if (cnt >= OLIA_ONE)
			cnt = 0;
		cc_set_cwnd(tp, (u64)tp->snd_cwnd + pkts);
	} else if (cnt <= -OLIA_ONE) {
		/* Giving window away: one packet at a time, never below the minimum. */
		cnt = 0;
		cc_set_cwnd(tp, tp->snd_cwnd > CC_MIN_CWND ? tp->snd_cwnd - 1 : CC_MIN_CWND);
	}
	ca->olia_cnt = cnt;
	cc_clamp_cwnd(tp);
}

SEC("struct_ops")
u32 BPF_PROG(olia_ssthresh, struct sock *sk)
{
	return cc_ssthresh(sk);
}

SEC("struct_ops")
u32 BPF_PROG(olia_undo_cwnd, struct sock *sk)
{
	return cc_undo_cwnd(sk);
}

SEC("struct_ops")
void BPF_PROG(olia_set_state, struct sock *sk, u8 new_state)
{
	struct coupled_priv *ca = cc_priv(sk);
	struct conn_state *conn = NULL;
	struct subflow_slot *me;

	cc_sanitize(sk);
	if (new_state == TCP_CA_Loss || new_state == TCP_CA_Recovery || new_state == TCP_CA_CWR) {
		/* A new loss event closes the current inter-loss interval (RTO back-offs do not). */
		if (ca->loss3 != ca->loss2 && !cc_inet_csk(sk)->icsk_retransmits) {
			ca->loss1 = ca->loss2;
			ca->loss2 = ca->loss3;
		}
		ca->olia_cnt = 0;
	}
	if (!ca->token || !ca->slot)
		return;
	me = cc_my_slot(ca, &conn);
	if (me)
		cc_publish(sk, me, olia_inter_loss(ca));
}

/* Repairs a corrupt ssthresh / cwnd before the loss-recovery state machine uses them. */
SEC("struct_ops")
void BPF_PROG(olia_in_ack_event, struct sock *sk, u32 flags)
{
	cc_sanitize(sk);
}

SEC(".struct_ops")
struct tcp_congestion_ops CC_NAME = {
	.init = (void *)olia_init,
	.release = (void *)olia_release,
	.cong_avoid = (void *)olia_cong_avoid,
	.ssthresh = (void *)olia_ssthresh,
	.undo_cwnd = (void *)olia_undo_cwnd,
	.set_state = (void *)olia_set_state,
	.in_ack_event = (void *)olia_in_ack_event,
	.flags = TCP_CONG_NON_RESTRICTED,
	.name = CC_STR(CC_NAME),
};
