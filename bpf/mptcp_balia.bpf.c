// SPDX-License-Identifier: GPL-2.0
/*
 * mptcp_balia: Balia, the Balanced Linked Adaptation algorithm (Q. Peng, A. Walid, J. Hwang,
 * S. H. Low, "Multipath TCP: Analysis, Design, and Implementation", IEEE/ACM Transactions on
 * Networking 24(1), 2016, doi:10.1109/TNET.2014.2379698; draft-walid-mptcp-congestion-control-04)
 * for upstream Linux MPTCP, as a BPF struct_ops tcp_congestion_ops. Shared machinery (coupling
 * map, clamps, cc_sanitize): mptcp_coupled.h.
 *
 * The algorithm (windows w in packets, rtt_k the RTT of path k):
 *     x_k = w_k / rtt_k,   alpha_r = max_k x_k / x_r   (>= 1)
 *   each ACK on path r:  w_r += x_r / (rtt_r * (sum_k x_k)^2) * (1 + alpha_r)/2 * (4 + alpha_r)/5
 *   each loss on r:      w_r -= w_r / 2 * min(alpha_r, 1.5)
 * With one path alpha = 1 and both reduce to Reno (+1/w per ACK, halve on loss). Slow start is
 * Reno's, as in the paper and in LIA / OLIA here.
 *
 * Increase as "one packet per W acked packets" (what tcp_cong_avoid_ai() implements): with
 * x_r * rtt_r = w_r and (1 + alpha)(4 + alpha) = (x_r + M)(4 x_r + M) / x_r^2, M = max_k x_k,
 *     W = 1 / increase = 10 * w_r * S^2 / ((x_r + M) * (4 x_r + M)),   S = sum_k x_k
 * a pure number, so the rates may be in any common unit. Since x_r <= M <= S,
 * (x_r + M)(4 x_r + M) <= 10 M^2 <= 10 S^2, i.e. W >= w_r: Balia never grows a subflow faster
 * than Reno would (the clamp to w_r below only absorbs races between the slot reads). The
 * authors' out-of-tree module (multipath-tcp.org, net/mptcp/mptcp_balia.c) uses the same
 * per-ACK divisor, with rates in bytes/s and an integer alpha in its decrease; here alpha keeps
 * its fraction, so a decrease with 1 < alpha < 1.5 is between Reno's and the 1.5 cap, as in the
 * paper.
 *
 * Fixed point (the rates, like LIA's): with r0 = the smallest RTT of the connection (ours
 * included), every path k gets
 *     a_k = w_k * 2^12 * r0 / rtt_k       (rtt_k >= r0, w_k <= 2^16: a_k <= 2^28)
 * the common factor 2^12 * r0 cancels in W and alpha. Then, with at most 8 paths:
 *     S <= 8 * 2^28 = 2^31, S^2 <= 2^62                      (fits u64)
 *     q = S^2 / (a_r + M) <= S^2 / M <= 64 * M <= 2^34      (every a_k <= M, so S <= 8 M)
 *     q * 10 * w_r <= 2^34 * 10 * 2^16 < 2^54               (fits u64)
 *     W = q * 10 * w_r / (4 a_r + M) <= 640 * w_r
 * a_r is at least 1 and M >= a_r, so no divisor is 0. alpha is kept in 1/1024 units:
 * alpha_fp = min(M * 2^10 / a_r, 1.5 * 2^10), M * 2^10 <= 2^38. The decrease is then
 *     ssthresh = w_r - w_r / 2 * alpha = w_r * (2^11 - alpha_fp) / 2^11   (>= w_r / 4)
 * which for alpha = 1 is exactly Reno's w_r / 2 (rounded down), bounded below by CC_MIN_CWND.
 *
 * The rates come from the published slots (cwnd, srtt) of the connection, scanned in bpf_loop()
 * callbacks (see mptcp_olia.bpf.c for why not inline loops): one pass for r0, one for S and M.
 * A sibling may publish between the passes; its RTT is then raised to r0 so the a_k bound holds.
 */
#include "mptcp_coupled.h"
#include "balia_math.h"

struct balia_view {
	u32 token;  /* connection entry to scan */
	u32 r0;     /* smallest RTT seen (us), ours included */
	u64 sum;    /* S = sum_k a_k */
	u64 max;    /* M = max_k a_k */
};

/* Read slot i into (cwnd, rtt); false if it holds no usable path. */
static __always_inline bool balia_slot(u32 token, u32 i, u32 *cwnd, u32 *rtt)
{
	u32 inter_loss = 0;

	return cc_read_slot(token, i, cwnd, rtt, &inter_loss);
}

static long balia_scan_r0(u32 i, void *data)
{
	struct balia_view *v = data;
	u32 cwnd = 0, rtt = 1;

	if (balia_slot(v->token, i, &cwnd, &rtt) && rtt < v->r0)
		v->r0 = rtt;
	return 0;
}

static long balia_scan_rates(u32 i, void *data)
{
	struct balia_view *v = data;
	u32 cwnd = 0, rtt = 1;
	u64 a;

	if (!balia_slot(v->token, i, &cwnd, &rtt))
		return 0;
	a = balia_rate(cwnd, rtt, v->r0);
	v->sum += a;
	if (a > v->max)
		v->max = a;
	return 0;
}

/*
 * Scan the connection: our own rate a_r (from this subflow's current window and RTT, which may
 * be newer than its published slot), S and M. S >= a_r and M >= a_r always (our slot may not be
 * published yet, or hold the settled ssthresh of a recovery).
 */
static __always_inline u64 balia_rates(u32 token, u32 w, u32 my_rtt, struct balia_view *v)
{
	u64 a_r;

	v->token = token;
	v->r0 = my_rtt;
	v->sum = 0;
	v->max = 0;
	bpf_loop(MAX_SUBFLOWS, balia_scan_r0, v, 0);
	bpf_loop(MAX_SUBFLOWS, balia_scan_rates, v, 0);
	a_r = balia_rate(w, my_rtt, v->r0);
	if (!a_r)
		a_r = 1;
	if (v->sum < a_r)
		v->sum = a_r;
	if (v->max < a_r)
		v->max = a_r;
	return a_r;
}

static __always_inline u32 balia_my_rtt(const struct tcp_sock *tp)
{
	return cc_min(cc_max(tp->srtt_us >> 3, 1), CC_MAX_RTT_US);
}

/* W: one packet of increase per W acked packets (see the top of this file). */
static __always_inline u32 balia_window(u32 token, u32 w, u32 my_rtt)
{
	struct balia_view v = {};
	u64 a_r;

	a_r = balia_rates(token, w, my_rtt, &v);
	return (u32)cc_min64(balia_window_of(a_r, v.sum, v.max, w), CC_MAX_AI_W);
}

SEC("struct_ops")
void BPF_PROG(balia_init, struct sock *sk)
{
	cc_init(sk);
}

SEC("struct_ops")
void BPF_PROG(balia_release, struct sock *sk)
{
	cc_release(sk);
}

SEC("struct_ops")
void BPF_PROG(balia_cong_avoid, struct sock *sk, u32 ack, u32 acked)
{
	struct tcp_sock *tp = cc_tcp_sk(sk);
	struct coupled_priv *ca = cc_priv(sk);
	struct conn_state *conn = NULL;
	struct subflow_slot *me;
	u32 w;

	cc_sanitize(sk);
	me = cc_coupled_or_reno(sk, ca, &conn, acked);
	if (!me)
		return;
	cc_publish(sk, me, 0);
	acked = cc_slow_start_part(tp, acked);
	if (!acked)
		return;
	w = cc_max(cc_min(tp->snd_cwnd, CC_MAX_CWND), 1);
	tcp_cong_avoid_ai(tp, balia_window(ca->token, w, balia_my_rtt(tp)), acked);
	cc_clamp_cwnd(tp);
}

/*
 * The Balia decrease: w_r - w_r/2 * min(alpha_r, 1.5), never below CC_MIN_CWND. A plain TCP
 * socket, or a subflow without a slot (not resolved yet, or beyond MAX_SUBFLOWS), halves like
 * Reno (cc_ssthresh()), which is also what alpha = 1 gives.
 */
SEC("struct_ops")
u32 BPF_PROG(balia_ssthresh, struct sock *sk)
{
	const struct tcp_sock *tp = cc_tcp_sk(sk);
	struct coupled_priv *ca = cc_priv(sk);
	struct balia_view v = {};
	u64 a_r;
	u32 w;

	if (!ca->token || !ca->slot)
		return cc_ssthresh(sk);
	w = cc_max(cc_min(tp->snd_cwnd, cc_cwnd_bound(tp)), 1);
	a_r = balia_rates(ca->token, w, balia_my_rtt(tp), &v);
	return balia_decrease(w, balia_alpha_fp(a_r, v.max), CC_MIN_CWND);
}

SEC("struct_ops")
u32 BPF_PROG(balia_undo_cwnd, struct sock *sk)
{
	return cc_undo_cwnd(sk);
}

SEC("struct_ops")
void BPF_PROG(balia_set_state, struct sock *sk, u8 new_state)
{
	struct coupled_priv *ca = cc_priv(sk);
	struct conn_state *conn = NULL;
	struct subflow_slot *me;

	cc_sanitize(sk);
	/* Publish the post-loss window at once, so siblings do not couple to a stale larger one. */
	if (!ca->token || !ca->slot)
		return;
	me = cc_my_slot(ca, &conn);
	if (me)
		cc_publish(sk, me, 0);
}

/* Repairs a corrupt ssthresh / cwnd before the loss-recovery state machine uses them. */
SEC("struct_ops")
void BPF_PROG(balia_in_ack_event, struct sock *sk, u32 flags)
{
	cc_sanitize(sk);
}

SEC(".struct_ops")
struct tcp_congestion_ops CC_NAME = {
	.init = (void *)balia_init,
	.release = (void *)balia_release,
	.cong_avoid = (void *)balia_cong_avoid,
	.ssthresh = (void *)balia_ssthresh,
	.undo_cwnd = (void *)balia_undo_cwnd,
	.set_state = (void *)balia_set_state,
	.in_ack_event = (void *)balia_in_ack_event,
	.flags = TCP_CONG_NON_RESTRICTED,
	.name = CC_STR(CC_NAME),
};
