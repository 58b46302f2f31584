/*
 * Host-side check of Balia's fixed-point arithmetic (bpf/balia_math.h, the code the BPF object
 * runs) against the paper's formulas in floating point. Built and run by
 * src-main/engine/cc/balia-math.test.ts; prints one line per failed check and exits 1 if any.
 *
 * Paper (Peng, Walid, Hwang, Low, IEEE/ACM ToN 2016), windows w_k, RTTs rtt_k, x_k = w_k/rtt_k,
 * alpha_r = max x / x_r:  increase per ACK on r = x_r / (rtt_r (sum x)^2) (1+alpha_r)/2 (4+alpha_r)/5,
 *                         decrease on loss      = w_r / 2 * min(alpha_r, 1.5).
 */
#include <linux/types.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "../balia_math.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                                \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
		}                                                                                  \
	} while (0)

/* The BPF side's view of a connection: windows and RTTs per path, our path r. */
struct conn {
	int n;
	__u32 w[8], rtt[8];
};

/* What mptcp_balia.bpf.c computes: rates scaled to r0 = the smallest RTT, then W and alpha. */
static void fixed(const struct conn *c, int r, __u64 *win, __u64 *alpha_fp, __u32 *decrease)
{
	__u32 r0 = c->rtt[0];
	__u64 sum = 0, max = 0, a_r;
	for (int k = 1; k < c->n; k++)
		if (c->rtt[k] < r0) r0 = c->rtt[k];
	for (int k = 0; k < c->n; k++) {
		__u64 a = balia_rate(c->w[k], c->rtt[k], r0);
		sum += a;
		if (a > max) max = a;
	}
	a_r = balia_rate(c->w[r], c->rtt[r], r0);
	if (!a_r) a_r = 1;
	*win = balia_window_of(a_r, sum, max, c->w[r]);
	*alpha_fp = balia_alpha_fp(a_r, max);
	*decrease = balia_decrease(c->w[r], *alpha_fp, 2);
}

/* The paper's increase per ACK and decrease, in floating point. */
static void exact(const struct conn *c, int r, double *increase, double *decrease)
{
	double x[8], s = 0, m = 0;
	for (int k = 0; k < c->n; k++) {
		x[k] = (double)c->w[k] / c->rtt[k];
		s += x[k];
		if (x[k] > m) m = x[k];
	}
	double alpha = m / x[r];
	*increase = x[r] / (c->rtt[r] * s * s) * (1 + alpha) / 2 * (4 + alpha) / 5;
	*decrease = c->w[r] - c->w[r] / 2.0 * (alpha < 1.5 ? alpha : 1.5);
}

int main(void)
{
	__u64 win, alpha;
	__u32 dec;

	/* One path: Reno, +1/w per ACK (W = w) and halving. */
	for (__u32 w = 2; w <= 65536; w *= 2) {
		struct conn c = {1, {w}, {20000}};
		fixed(&c, 0, &win, &alpha, &dec);
		CHECK(win == w, "one path w=%u: W=%llu, Reno's is w", w, (unsigned long long)win);
		CHECK(alpha == 1024, "one path w=%u: alpha_fp=%llu", w, (unsigned long long)alpha);
		CHECK(dec == (w / 2 > 2 ? w / 2 : 2), "one path w=%u: decrease to %u", w, dec);
	}
	/* Two equal paths: (1+1)/2 * (4+1)/5 = 1 and x/(rtt (2x)^2) = 1/(4w): W = 4w; halving. */
	{
		struct conn c = {2, {40, 40}, {10000, 10000}};
		fixed(&c, 0, &win, &alpha, &dec);
		CHECK(win == 160, "two equal paths: W=%llu, expected 4w = 160", (unsigned long long)win);
		CHECK(dec == 20, "two equal paths: decrease to %u, expected 20", dec);
	}
	/* The other path three times faster: alpha = 3, capped at 1.5: w - w/2*1.5 = w/4. */
	{
		struct conn c = {2, {40, 120}, {10000, 10000}};
		fixed(&c, 0, &win, &alpha, &dec);
		CHECK(alpha == 1536, "alpha 3: alpha_fp=%llu, expected the 1.5 cap", (unsigned long long)alpha);
		CHECK(dec == 10, "alpha 3: decrease to %u, expected w/4 = 10", dec);
	}
	/* Extremes: 8 paths at the largest window, RTTs from 1 us to the largest: no overflow, W >= w. */
	{
		struct conn c = {8, {65536, 65536, 65536, 65536, 65536, 65536, 65536, 65536},
				 {1, 1, 1, 1, 1, 1, 1, 1}};
		fixed(&c, 0, &win, &alpha, &dec);
		CHECK(win == 65536ULL * 64 * 10 / 10, "8 equal paths: W=%llu, expected 64w", (unsigned long long)win);
		struct conn d = {8, {65536, 2, 65536, 2, 65536, 2, 65536, 2},
				 {1, 4000000, 1, 4000000, 1, 4000000, 1, 4000000}};
		fixed(&d, 1, &win, &alpha, &dec);
		CHECK(win >= 2, "slow path beside fast ones: W=%llu below w", (unsigned long long)win);
		CHECK(alpha == 1536, "slow path: alpha_fp=%llu, expected the cap", (unsigned long long)alpha);
	}
	/* Random connections: W within 2% of 1/increase (or w when that is below w), decrease
	 * within one packet. */
	srand(1);
	int checked = 0;
	for (int i = 0; i < 200000; i++) {
		struct conn c;
		c.n = 1 + rand() % 8;
		for (int k = 0; k < c.n; k++) {
			c.w[k] = 2 + rand() % 2000;
			c.rtt[k] = 100 + rand() % 400000;
		}
		int r = rand() % c.n;
		double inc, exact_dec;
		fixed(&c, r, &win, &alpha, &dec);
		exact(&c, r, &inc, &exact_dec);
		double want = 1 / inc < c.w[r] ? c.w[r] : 1 / inc;
		/* Rates round down when the RTT ratio exceeds ~4096 w: the a_r >= 1 floor takes over. */
		double ratio = (double)c.rtt[r] / c.rtt[0];
		if (ratio > 1000) continue;
		checked++;
		CHECK(fabs(win - want) <= 0.02 * want + 1, "n=%d r=%d: W=%llu, exact %.1f", c.n, r,
		      (unsigned long long)win, want);
		double want_dec = exact_dec < 2 ? 2 : exact_dec;
		CHECK(fabs(dec - want_dec) <= 1.0, "n=%d r=%d: decrease %u, exact %.2f", c.n, r, dec, want_dec);
		if (failures > 20) break;
	}
	printf("checked %d random connections, %d failures\n", checked, failures);
	return failures ? 1 : 0;
}
