/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Balia's fixed-point arithmetic (the derivation and the bounds are at the top of
 * mptcp_balia.bpf.c): pure functions of integers, no BPF helper and no kernel type, so that the
 * same code is compiled into the BPF object and into a host program that checks it against
 * floating point (bpf/test/balia_math_test.c, run by src-main/engine/cc/balia-math.test.ts).
 * The includer provides __u32 / __u64 (vmlinux.h in BPF, <linux/types.h> on the host).
 */
#ifndef BALIA_MATH_H
#define BALIA_MATH_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define BALIA_SHIFT 12
#define BALIA_ALPHA_SHIFT 10
/* min(alpha, 1.5) in 1/1024 units. */
#define BALIA_ALPHA_CAP (3U << (BALIA_ALPHA_SHIFT - 1))

/* a = w * 2^12 * r0 / rtt with rtt >= r0: at most w * 2^12 <= 2^28 for w <= 2^16. */
static __always_inline __u64 balia_rate(__u32 cwnd, __u32 rtt, __u32 r0)
{
	if (rtt < r0)
		rtt = r0;
	return ((__u64)cwnd << BALIA_SHIFT) * r0 / rtt;
}

/*
 * W = 10 * w * S^2 / ((a_r + M) * (4 a_r + M)), never below w (one packet of increase per W
 * acked packets). Needs 1 <= a_r <= M <= S <= 8 * 2^28 (balia_rates() guarantees it).
 */
static __always_inline __u64 balia_window_of(__u64 a_r, __u64 sum, __u64 max, __u32 w)
{
	__u64 q = sum * sum / (a_r + max);
	__u64 win = q * 10 * w / ((a_r << 2) + max);

	return win < w ? w : win;
}

/* alpha = M / a_r in 1/1024 units, capped at 1.5 (the decrease's min(alpha, 1.5)). */
static __always_inline __u64 balia_alpha_fp(__u64 a_r, __u64 max)
{
	__u64 alpha = (max << BALIA_ALPHA_SHIFT) / a_r;

	return alpha < BALIA_ALPHA_CAP ? alpha : BALIA_ALPHA_CAP;
}

/* w - w/2 * min(alpha, 1.5) = w * (2^11 - alpha_fp) / 2^11, at least min_cwnd. */
static __always_inline __u32 balia_decrease(__u32 w, __u64 alpha_fp, __u32 min_cwnd)
{
	/* alpha_fp <= 1.5 * 2^10 < 2^11, so the factor is in (2^9, 2^10]: no wrap. */
	__u32 r = (__u32)(((__u64)w * ((1U << (BALIA_ALPHA_SHIFT + 1)) - alpha_fp)) >>
			  (BALIA_ALPHA_SHIFT + 1));

	return r > min_cwnd ? r : min_cwnd;
}

#endif
