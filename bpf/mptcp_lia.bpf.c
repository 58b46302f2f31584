// SPDX-License-Identifier: GPL-2.0
/*
 * mptcp_lia: the Linked Increases Algorithm of RFC 6356 for upstream Linux MPTCP, as a BPF
 * struct_ops tcp_congestion_ops. Shared machinery (coupling map, clamps): mptcp_coupled.h.
 *
 * RFC 6356 §4: on each ACK on subflow i, in congestion avoidance, increase cwnd_i by
 *     min(alpha * bytes_acked * MSS_i / cwnd_total, bytes_acked * MSS_i / cwnd_i)
 * with alpha = cwnd_total * max_i(cwnd_i / rtt_i^2) / (sum_i cwnd_i / rtt_i)^2.
 * In packets (Linux counts cwnd in MSS): +1 packet per w acked packets, where
 *     w = max(cwnd_i, cwnd_total / alpha),  cwnd_total / alpha = (sum cwnd/rtt)^2 / max(cwnd/rtt^2)
 * which is exactly tcp_cong_avoid_ai(tp, w, acked). Decrease (halving) and slow start are Reno's,
 * as the RFC prescribes.
 *
 * Fixed point: with r0 = the smallest RTT of the connection,
 *     a_i = cwnd_i * 2^12 * r0 / rtt_i           (<= cwnd_i * 2^12 <= 2^28)
 *     b_i = a_i * r0 / rtt_i                      (<= 2^28)
 *     w   = (sum a_i)^2 / (max b_i * 2^12)        ((sum a_i)^2 <= (8 * 2^28)^2 = 2^62)
 * the r0 and 2^12 factors cancel. b_i of the subflow with rtt r0 is cwnd * 2^12 > 0, so the
 * divisor is never 0 once any slot is published; an empty result falls back to w = cwnd_i.
 */
#include "mptcp_coupled.h"

#define LIA_SHIFT 12

static __always_inline u32 lia_window(struct conn_state *conn, u32 my_cwnd)
{
	u32 cwnd[MAX_SUBFLOWS], rtt[MAX_SUBFLOWS];
	u32 r0 = CC_MAX_RTT_US, i;
	u64 sum_a = 0, max_b = 0, w;

	for (i = 0; i < MAX_SUBFLOWS; i++) {
		u32 c = conn->slot[i].owner ? conn->slot[i].cwnd : 0;
		u32 r = conn->slot[i].srtt_us;

		if (!c || !r) {
			cwnd[i] = 0;
			rtt[i] = 1;
			continue;
		}
		cwnd[i] = cc_min(c, CC_MAX_CWND);
		rtt[i] = cc_min(r, CC_MAX_RTT_US);
		if (rtt[i] < r0)
			r0 = rtt[i];
	}
	for (i = 0; i < MAX_SUBFLOWS; i++) {
		u64 a, b;

		if (!cwnd[i])
			continue;
		a = ((u64)cwnd[i] << LIA_SHIFT) * r0 / rtt[i];
		b = a * r0 / rtt[i];
		sum_a += a;
		if (b > max_b)
			max_b = b;
	}
	if (!max_b)
		return my_cwnd;
	w = sum_a * sum_a / (max_b << LIA_SHIFT);
	/* min(alpha/cwnd_total, 1/cwnd_i): never increase faster than Reno on this subflow. */
	if (w < my_cwnd)
		w = my_cwnd;
	return (u32)cc_min64(w, CC_MAX_AI_W);
}

SEC("struct_ops")
void BPF_PROG(lia_init, struct sock *sk)
{
	cc_init(sk);
}

SEC("struct_ops")
void BPF_PROG(lia_release, struct sock *sk)
{
	cc_release(sk);
}

SEC("struct_ops")
void BPF_PROG(lia_cong_avoid, struct sock *sk, u32 ack, u32 acked)
{
	struct tcp_sock *tp = cc_tcp_sk(sk);
	struct coupled_priv *ca = cc_priv(sk);
	struct conn_state *conn = NULL;
	struct subflow_slot *me;

	cc_debug_if(tp->snd_cwnd > CC_DEBUG_MIN || acked > CC_DEBUG_MIN, 1, tp->snd_cwnd, acked,
		    tp->snd_cwnd_cnt, tp->snd_ssthresh, cc_ca_state(sk));
	cc_sanitize(sk);
	me = cc_coupled_or_reno(sk, ca, &conn, acked);
	if (!me)
		return;
	cc_publish(sk, me, 0);
	acked = cc_slow_start_part(tp, acked);
	if (!acked)
		return;
	tcp_cong_avoid_ai(tp, lia_window(conn, tp->snd_cwnd), acked);
	cc_clamp_cwnd(tp);
}

SEC("struct_ops")
u32 BPF_PROG(lia_ssthresh, struct sock *sk)
{
	const struct tcp_sock *tp = cc_tcp_sk(sk);
	u32 r = cc_ssthresh(sk);

	cc_debug_do(cc_priv(sk)->dbg_ss_calls++; cc_priv(sk)->dbg_ss_ret = r);
	cc_debug_if(r > CC_DEBUG_MIN || tp->snd_cwnd > CC_DEBUG_MIN, 6, tp->snd_cwnd, r,
		    tp->snd_ssthresh, tp->prior_cwnd, cc_ca_state(sk));
	return r;
}

SEC("struct_ops")
void BPF_PROG(lia_in_ack_event, struct sock *sk, u32 flags)
{
	struct tcp_sock *tp = cc_tcp_sk(sk);

	/* CC_DEBUG: where the corrupt ssthresh was first seen (kinds 7 and 8). */
	cc_debug_if(cc_suspicious(tp), 7, tp->snd_cwnd, tp->snd_ssthresh, tp->prior_cwnd,
		    tp->packets_out, cc_ca_state(sk));
	cc_debug_if(cc_suspicious(tp), 8, tp->prior_ssthresh, tp->snd_una, tp->high_seq,
		    tp->undo_marker, tp->snd_nxt);
	/* Kind 9: how many times ssthresh() and set_state() ran on this subflow, and their last
	 * result / argument, when the corrupt ssthresh is first seen. */
	cc_debug_if(cc_suspicious(tp), 9, tp->snd_ssthresh, cc_priv(sk)->dbg_ss_calls,
		    cc_priv(sk)->dbg_ss_ret, cc_priv(sk)->dbg_state_calls,
		    cc_priv(sk)->dbg_last_state);
	cc_sanitize(sk);
}

SEC("struct_ops")
u32 BPF_PROG(lia_undo_cwnd, struct sock *sk)
{
	const struct tcp_sock *tp = cc_tcp_sk(sk);

	cc_debug_if(cc_suspicious(tp) || tp->prior_cwnd > CC_DEBUG_MIN, 4, tp->snd_cwnd,
		    tp->prior_cwnd, tp->snd_ssthresh, tp->prior_ssthresh, cc_ca_state(sk));
	return cc_undo_cwnd(sk);
}

SEC("struct_ops")
void BPF_PROG(lia_set_state, struct sock *sk, u8 new_state)
{
	struct coupled_priv *ca = cc_priv(sk);
	struct conn_state *conn = NULL;
	struct subflow_slot *me;

	cc_debug_do(ca->dbg_state_calls++; ca->dbg_last_state = new_state);
	cc_debug_if(cc_suspicious(cc_tcp_sk(sk)), 5, new_state, cc_tcp_sk(sk)->snd_cwnd,
		    cc_tcp_sk(sk)->snd_ssthresh, cc_tcp_sk(sk)->prior_cwnd,
		    cc_tcp_sk(sk)->prior_ssthresh);
	cc_sanitize(sk);
	/* Publish the post-loss window at once, so siblings do not couple to a stale larger one. */
	if (!ca->token || !ca->slot)
		return;
	me = cc_my_slot(ca, &conn);
	if (me)
		cc_publish(sk, me, 0);
}

SEC(".struct_ops")
struct tcp_congestion_ops CC_NAME = {
	.init = (void *)lia_init,
	.release = (void *)lia_release,
	.cong_avoid = (void *)lia_cong_avoid,
	.ssthresh = (void *)lia_ssthresh,
	.undo_cwnd = (void *)lia_undo_cwnd,
	.set_state = (void *)lia_set_state,
	.in_ack_event = (void *)lia_in_ack_event,
	.flags = TCP_CONG_NON_RESTRICTED,
	.name = CC_STR(CC_NAME),
};
