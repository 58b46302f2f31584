/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared part of the coupled MPTCP congestion controls (LIA, RFC 6356; OLIA, Khalili et al.)
 * written as BPF struct_ops `tcp_congestion_ops` for upstream Linux, which has never shipped
 * coupled CCs for MPTCP.
 *
 * How the coupling works
 * ----------------------
 * Each MPTCP subflow is an ordinary TCP socket whose CC callbacks run under that subflow's own
 * socket lock, possibly on another CPU than its siblings. The subflows of one MPTCP connection
 * share an entry of `coupled_conns`, a hash map keyed by the connection's MPTCP token
 * (RFC 8684 §3.2). The token is reached from the subflow by a read-only walk the verifier accepts:
 *   inet_csk(sk)->icsk_ulp_data -> struct mptcp_subflow_context -> conn -> struct mptcp_sock
 * (bpf_skc_to_mptcp_sock() is refused in struct_ops programs, bpf_rdonly_cast() is not).
 * The entry holds MAX_SUBFLOWS slots; a subflow claims one with an atomic compare-and-swap of the
 * slot owner (its MPTCP subflow_id + 1), then only ever writes its own slot and only reads the
 * others. A slot is a "published" snapshot (cwnd, smoothed RTT, OLIA's inter-loss distance) that
 * the subflow refreshes on every ACK; the coupling computations read all published slots.
 *
 * Reads of a sibling's slot race with its writer: every field is an aligned u32, so a reader sees
 * either the old or the new value of each field, never a torn one. That is all the coupling math
 * needs (the kernel module versions read siblings' tcp_sock without their locks, too).
 *
 * Tokens are unique per network namespace only; two connections in different namespaces that
 * draw the same 32-bit token would be coupled together, which costs fairness, not safety.
 *
 * The absurd-cwnd anomaly (see README "Coupled congestion control")
 * -----------------------------------------------------------------
 * Everything written to tp->snd_cwnd goes through cc_set_cwnd(), which clamps to
 * [CC_MIN_CWND, min(snd_cwnd_clamp, CC_MAX_CWND)], and undo_cwnd applies the same clamp to
 * max(cwnd, prior_cwnd): the kernel stores undo_cwnd()'s result without any bound of its own
 * (tcp_undo_cwnd_reduction()), so a CC is the last line of defence there. Fixed-point terms are
 * computed in u64 with every input bounded first (cwnd <= 2^16 and RTT <= 2^22 us inside the
 * math), divisors are checked non-zero, and no u32 subtraction can wrap.
 */
#ifndef MPTCP_COUPLED_H
#define MPTCP_COUPLED_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

#ifndef TCP_CONG_NON_RESTRICTED
#define TCP_CONG_NON_RESTRICTED 0x1
#endif
#ifndef TCP_INFINITE_SSTHRESH
#define TCP_INFINITE_SSTHRESH 0x7fffffff
#endif

#define MAX_SUBFLOWS 8
/* Upper bound for cwnd in packets. 2^16 packets of 1500 bytes = 98 MB in flight, i.e. 7.8 Gbit/s
 * at 100 ms RTT: above anything these CCs are meant for, far below the "absurd" 10^5..10^9
 * values the prototype produced. snd_cwnd_clamp (default ~0U) is honoured when lower. */
#define CC_MAX_CWND (1U << 16)
#define CC_MIN_CWND 2U
/* Largest w handed to tcp_cong_avoid_ai(): one packet per 2^30 acked is "no increase". */
#define CC_MAX_AI_W (1U << 30)
/* CC_DEBUG builds: values above this are logged (the lab's largest legit cwnd is a few hundred). */
#define CC_DEBUG_MIN 5000U
/* RTT bound used inside the fixed-point math (4.2 s). */
#define CC_MAX_RTT_US (1U << 22)

struct subflow_slot {
	u32 owner;         /* subflow_id + 1 of the subflow that owns this slot; 0 = free */
	u32 cwnd;          /* packets; ssthresh while in fast recovery (not the inflated window) */
	u32 srtt_us;       /* smoothed RTT in microseconds; 0 until the first RTT sample */
	u32 inter_loss;    /* OLIA: bytes acked between the last two losses (max of l1, l2) */
};

struct conn_state {
	struct subflow_slot slot[MAX_SUBFLOWS];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);    /* MPTCP connection token */
	__type(value, struct conn_state);
} coupled_conns SEC(".maps");

/* Per-subflow private state in icsk_ca_priv (zeroed by the kernel before init()). */
struct coupled_priv {
	u32 token;     /* MPTCP token, 0 = not resolved yet */
	u32 owner;     /* subflow_id + 1, 0 = not an MPTCP subflow (plain TCP: behave as Reno) */
	u32 slot;      /* slot index + 1 in the connection entry, 0 = none claimed */
	u32 loss1;     /* OLIA: snd_una at the loss before last */
	u32 loss2;     /* OLIA: snd_una at the last loss */
	u32 loss3;     /* OLIA: snd_una now */
	s64 olia_cnt;  /* OLIA: fractional cwnd increase, OLIA_ONE = one packet */
	/* CC_DEBUG builds only: did ssthresh() / set_state() run for the corrupt recovery entry? */
	u32 dbg_ss_calls, dbg_ss_ret, dbg_state_calls, dbg_last_state;
};

extern u32 tcp_slow_start(struct tcp_sock *tp, u32 acked) __ksym;
extern void tcp_cong_avoid_ai(struct tcp_sock *tp, u32 w, u32 acked) __ksym;
extern void *bpf_rdonly_cast(const void *obj, u32 btf_id) __ksym;

static __always_inline struct tcp_sock *cc_tcp_sk(const struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

static __always_inline struct inet_connection_sock *cc_inet_csk(const struct sock *sk)
{
	return (struct inet_connection_sock *)sk;
}

static __always_inline struct coupled_priv *cc_priv(const struct sock *sk)
{
	return (struct coupled_priv *)cc_inet_csk(sk)->icsk_ca_priv;
}

static __always_inline u8 cc_ca_state(const struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD(cc_inet_csk(sk), icsk_ca_state);
}

/* CC_DEBUG trigger: a cwnd or a (finite) ssthresh no lab connection can legitimately have. */
static __always_inline bool cc_suspicious(const struct tcp_sock *tp)
{
	return tp->snd_cwnd > CC_DEBUG_MIN ||
	       (tp->snd_ssthresh > CC_DEBUG_MIN && tp->snd_ssthresh != TCP_INFINITE_SSTHRESH);
}

static __always_inline u32 cc_min(u32 a, u32 b) { return a < b ? a : b; }
static __always_inline u32 cc_max(u32 a, u32 b) { return a > b ? a : b; }
static __always_inline u64 cc_min64(u64 a, u64 b) { return a < b ? a : b; }

static __always_inline u32 cc_cwnd_bound(const struct tcp_sock *tp)
{
	return cc_max(cc_min(tp->snd_cwnd_clamp, CC_MAX_CWND), CC_MIN_CWND);
}

/* The single place this CC writes snd_cwnd (besides the kernel's own tcp_slow_start /
 * tcp_cong_avoid_ai, whose result is re-clamped by cc_clamp_cwnd afterwards). */
static __always_inline void cc_set_cwnd(struct tcp_sock *tp, u64 cwnd)
{
	u32 bound = cc_cwnd_bound(tp);

	if (cwnd > bound)
		cwnd = bound;
	if (cwnd < CC_MIN_CWND)
		cwnd = CC_MIN_CWND;
	tp->snd_cwnd = (u32)cwnd;
}

static __always_inline void cc_clamp_cwnd(struct tcp_sock *tp)
{
#ifdef CC_NO_CLAMP
	return; /* experiment build only (bench:cc --no-clamp): is there an anomaly without clamps? */
#endif
	u32 cwnd = tp->snd_cwnd;

	if (cwnd > cc_cwnd_bound(tp) || cwnd < CC_MIN_CWND)
		cc_set_cwnd(tp, cwnd);
	/* tcp_cong_avoid_ai() adds snd_cwnd_cnt / w packets at once. A legitimate credit stays
	 * below w (<= CC_MAX_AI_W); anything above is a wrapped or stale counter. */
	if (tp->snd_cwnd_cnt > CC_MAX_AI_W)
		tp->snd_cwnd_cnt = 0;
}

static __always_inline bool cc_in_slow_start(const struct tcp_sock *tp)
{
	return tp->snd_cwnd < tp->snd_ssthresh;
}

/* include/net/tcp.h tcp_is_cwnd_limited(): in slow start, let cwnd grow to twice what was
 * in flight; afterwards, only when the window (not the application) limited the last send. */
static __always_inline bool cc_is_cwnd_limited(const struct tcp_sock *tp)
{
	if (cc_in_slow_start(tp))
		return tp->snd_cwnd < 2 * tp->max_packets_out;
	return BPF_CORE_READ_BITFIELD(tp, is_cwnd_limited);
}

/* The window that counts for coupling: during fast recovery the kernel inflates nothing in
 * modern Linux (PRR), but cwnd is in transit towards ssthresh; ssthresh is the settled value. */
static __always_inline u32 cc_current_cwnd(const struct sock *sk)
{
	const struct tcp_sock *tp = cc_tcp_sk(sk);
	u8 ca_state = BPF_CORE_READ_BITFIELD(cc_inet_csk(sk), icsk_ca_state);

	if (ca_state == TCP_CA_Recovery && tp->snd_ssthresh < tp->snd_cwnd)
		return tp->snd_ssthresh;
	return tp->snd_cwnd;
}

/* Resolve (once) the MPTCP token and subflow id of this subflow. Returns false for a plain TCP
 * socket (or one whose MPTCP context is already gone), which then runs as Reno. */
static __always_inline bool cc_resolve(struct sock *sk, struct coupled_priv *ca)
{
	struct mptcp_subflow_context *subflow;
	struct mptcp_sock *msk;
	struct sock *conn;
	u32 token;

	if (ca->token && ca->owner)
		return true;
	if (!cc_tcp_sk(sk)->is_mptcp)
		return false;
	subflow = bpf_rdonly_cast(cc_inet_csk(sk)->icsk_ulp_data,
				  bpf_core_type_id_kernel(struct mptcp_subflow_context));
	if (!subflow)
		return false;
	conn = subflow->conn;
	if (!conn)
		return false;
	msk = bpf_rdonly_cast(conn, bpf_core_type_id_kernel(struct mptcp_sock));
	token = msk->token;
	if (!token)
		return false;
	ca->token = token;
	ca->owner = subflow->subflow_id + 1;
	return true;
}

/* A new socket (or one that switched to this CC): not coupled yet; cc_resolve() claims a slot. */
static __always_inline struct coupled_priv *cc_init(struct sock *sk)
{
	struct coupled_priv *ca = cc_priv(sk);

	ca->token = 0;
	ca->owner = 0;
	ca->slot = 0;
	return ca;
}

/* Find (or create) the connection entry and this subflow's slot in it. */
static __always_inline struct subflow_slot *cc_my_slot(struct coupled_priv *ca,
						       struct conn_state **connp)
{
	struct conn_state *conn;
	u32 token = ca->token;
	u32 i;

	conn = bpf_map_lookup_elem(&coupled_conns, &token);
	if (!conn) {
		struct conn_state zero = {};

		bpf_map_update_elem(&coupled_conns, &token, &zero, BPF_NOEXIST);
		conn = bpf_map_lookup_elem(&coupled_conns, &token);
		if (!conn)
			return NULL;
	}
	*connp = conn;
	/* Fast path: the slot claimed earlier is still ours (the entry may have been recreated
	 * after an LRU eviction or after the last sibling released it: then claim again). */
	i = ca->slot;
	if (i >= 1 && i <= MAX_SUBFLOWS && conn->slot[i - 1].owner == ca->owner)
		return &conn->slot[i - 1];
	for (i = 0; i < MAX_SUBFLOWS; i++) {
		if (conn->slot[i].owner == ca->owner) {
			ca->slot = i + 1;
			return &conn->slot[i];
		}
	}
	for (i = 0; i < MAX_SUBFLOWS; i++) {
		if (__sync_val_compare_and_swap(&conn->slot[i].owner, 0, ca->owner) == 0) {
			ca->slot = i + 1;
			return &conn->slot[i];
		}
	}
	return NULL; /* more than MAX_SUBFLOWS subflows: this one runs uncoupled (Reno) */
}

static __always_inline void cc_publish(struct sock *sk, struct subflow_slot *s, u32 inter_loss)
{
	const struct tcp_sock *tp = cc_tcp_sk(sk);

	s->cwnd = cc_min(cc_current_cwnd(sk), CC_MAX_CWND);
	s->srtt_us = tp->srtt_us >> 3;
	s->inter_loss = inter_loss;
}

static __always_inline void cc_release(struct sock *sk)
{
	struct coupled_priv *ca = cc_priv(sk);
	struct conn_state *conn;
	u32 token = ca->token;
	u32 i = ca->slot;
	bool empty = true;

	if (!token || i < 1 || i > MAX_SUBFLOWS)
		return;
	conn = bpf_map_lookup_elem(&coupled_conns, &token);
	if (!conn)
		return;
	if (conn->slot[i - 1].owner == ca->owner) {
		conn->slot[i - 1].cwnd = 0;
		conn->slot[i - 1].srtt_us = 0;
		conn->slot[i - 1].inter_loss = 0;
		__sync_val_compare_and_swap(&conn->slot[i - 1].owner, ca->owner, 0);
	}
	for (i = 0; i < MAX_SUBFLOWS; i++)
		if (conn->slot[i].owner)
			empty = false;
	/* Last one out removes the entry. A sibling racing to claim a slot just recreates it. */
	if (empty)
		bpf_map_delete_elem(&coupled_conns, &token);
	ca->slot = 0;
}

/*
 * A sibling's published path i of connection `token` (for the scans in bpf_loop callbacks):
 * window and RTT, bounded, and its loss distance; false when the slot holds no usable path.
 */
static __always_inline bool cc_read_slot(u32 token, u32 i, u32 *cwnd, u32 *rtt, u32 *inter_loss)
{
	struct conn_state *conn = bpf_map_lookup_elem(&coupled_conns, &token);
	struct subflow_slot *s;
	u32 c, r;

	if (!conn || i >= MAX_SUBFLOWS)
		return false;
	s = &conn->slot[i];
	c = s->owner ? s->cwnd : 0;
	r = s->srtt_us;
	if (!c || !r)
		return false;
	*cwnd = cc_min(c, CC_MAX_CWND);
	*rtt = cc_min(r, CC_MAX_RTT_US);
	*inter_loss = s->inter_loss;
	return true;
}

/* Number of repairs made by cc_sanitize() (read: bpftool map dump of the object's .bss). */
u64 cc_repairs = 0;

/*
 * The absurd-cwnd anomaly, as found with the CC_DEBUG build (see README): in ~1 of 10 runs of LIA
 * through a tbf bottleneck, tp->snd_ssthresh of a subflow in fast recovery suddenly holds a value
 * like 0x58d81bc0 / 0x66f30940 / 0x49750080 (64-byte aligned, between 2^30 and 2^31), although
 * this CC's ssthresh() never returned more than a few hundred and prior_ssthresh (what an undo
 * restores) was sane at the time. When recovery ends, tcp_end_cwnd_reduction() copies ssthresh
 * into snd_cwnd without asking the CC, which is the 10^5..10^9 cwnd "set outside cong_avoid".
 * Kernel Reno on the same subflows showed nothing in 30 runs (and in 400 runs, below).
 * What the value is (2026-11-24, raw tracepoints tcp_probe / tcp_cong_state_set /
 * tcp_cwnd_reduction_tp / tcp_retransmit_skb / mptcp_subflow_get_send on the subflows of these
 * CCs, ring of the last 32k events): in both captured cases the corrupt ssthresh is exactly the
 * low 32 bits of the subflow's own struct sock address: sk ffff88814386a500 -> ssthresh
 * 0x4386a500, sk ffff88813eecc0c0 -> 0x3eecc0c0. It appears together with a legitimate-looking
 * recovery entry (ca_state Open -> Recovery, prior_cwnd = the cwnd before it (42, 174),
 * prior_ssthresh = TCP_INFINITE_SSTHRESH, cwnd cut by PRR) that happened between two ACKs (47 and
 * 63 ms without any event on that subflow: a timer, i.e. tcp_rack_reo_timeout() ->
 * tcp_enter_recovery()), and for that entry neither tcp_cong_state_set nor
 * tcp_cwnd_reduction_tp fired although both fire for every other recovery of the same subflows
 * (and the tracer counted no recursion misses). So the writer is tcp_init_cwnd_reduction()'s
 * `snd_ssthresh = icsk_ca_ops->ssthresh(sk)` receiving the callback's first argument (rdi = sk)
 * back as the u32 result, i.e. the value of a call that did not run this CC's ssthresh program
 * (which only ever computes max(cwnd / 2, 2)). Confirmed with the CC_DEBUG build's per-subflow
 * call counters (kind 9, cc_dbg): at the first in_ack_event that sees the corrupt value
 * (ssthresh 0x09c4ef00, ca_state Recovery, prior_cwnd 5), ssthresh() had run once in the
 * subflow's life (returning 5, an earlier recovery) and set_state() twice (Recovery, then Open,
 * last argument 0): for this recovery entry the kernel ran neither our ssthresh() nor our
 * set_state() program (and the tracepoint in tcp_set_ca_state() did not fire), yet the subflow
 * is in Recovery with prior_cwnd set. That is outside this CC's code; why the kernel's calls did
 * not reach the programs is not established. Ruled out: the struct_ops prototypes (bpftool
 * struct_ops dump: ssthresh/undo_cwnd u32 (struct sock *), cong_avoid/set_state/in_ack_event
 * void, exactly as declared here), the JITed ssthresh/undo_cwnd code (returns w0 computed from
 * snd_cwnd/prior_cwnd), trampoline recursion skips (recursion_misses 0 for every program), and
 * any BPF write to snd_ssthresh (the --no-clamp build has none: the only tcp_sock stores are in
 * icsk_ca_priv).
 * Hardware watchpoints (2026-11-25, bpf/diag/ssthresh_watch*.c: an x86 debug-register breakpoint
 * on &tp->snd_ssthresh of every subflow of these CCs from connect to close, ~1,500 subflows,
 * 1,300 LIA runs): the normal writers are tcp_init_sock, tcp_init_metrics, tcp_enter_recovery
 * (from tcp_fastretrans_alert), tcp_enter_loss, tcp_enter_cwr, tcp_process_tlp_ack,
 * tcp_cwnd_restart, tcp_undo_cwnd_reduction and this CC's repair. Six repairs were captured:
 * - write breakpoint, BPF overflow handler recording every write's value (3 repairs): each time
 *   perf's own count of the breakpoint exceeded the writes the handler saw by 1 or 2, and no
 *   write the handler saw left a large value: the corrupting store trapped but its handler did
 *   not run (perf skips a BPF overflow handler while the CPU's bpf_prog_active is taken);
 * - write breakpoint sampled by perf itself with registers and callchain (2 repairs): no sample
 *   at all between tcp_init_metrics' TCP_INFINITE_SSTHRESH (130-160 ms before) and the repair;
 * - read/write breakpoint (1 repair): the last access before it was tcp_update_pacing_rate()
 *   reading 70 (0x46) at +494.107 ms, the next this CC's in_ack_event() reading 0x5a8bb780, the
 *   low 32 bits of that subflow's address ffff88815a8bb780, at +497.654 ms; nothing in between.
 * So the store that puts the socket's own address there is never delivered to perf as a sample
 * (at most counted): it runs where perf does not report a breakpoint (a throttled or suppressed
 * event, NMI / #DB context), or it is not a store through the socket's address at all (another
 * mapping of the page, or from outside the guest: the dev machine is a Firecracker microVM). It
 * is not a store by this CC's programs: every BPF store to the field was sampled, and each is the
 * repair below. The earlier "ssthresh() did not run for this recovery entry" fits an overwrite
 * after the kernel's own, sane, store. The writer stays unidentified. Kernel Reno in the same
 * experiment, 400 runs (bench:cc --only reno --anomaly-reno): largest cwnd 206, none absurd
 * (LIA's rate predicts ~5), so it comes with the BPF congestion controls; and not with this
 * code: bpf/diag/reno_probe.bpf.c (Reno through kfuncs, no map but counters, no bpf_loop, no
 * MPTCP walk) saw it in ~100 runs on MPTCP subflows, ssthresh 0x8321ca00 on sk
 * ffff88818321ca00, and on a plain single-path TCP socket within ~160 runs
 * (bpf/diag/plain-tcp-runs.mjs: 0x65e940c0 on ffff888165e940c0): BPF struct_ops TCP congestion
 * control itself, on this kernel / VM, MPTCP or not.
 * Rates (ss sampled every 100 ms, cwnd > 5000 counted; cc_repairs read from the .bss): first LIA
 * build (commit 43b642d, cwnd clamp only) 2/20, 2/50 and ~1/30 runs; with the repair below the ss
 * watch sees 0 (it cannot see a repaired value) while cc_repairs counted 2 repairs in 40 runs and,
 * on 2026-11-24, 4 in 290 LIA runs (30: 1, 40: 0, 100: 2, 120: 1); OLIA 0/20 before the repair,
 * 0 repairs in 30.
 *
 * Defence: every callback this CC gets repairs both values before the kernel uses them. It runs
 * in in_ack_event() (called from tcp_ack() before the loss-recovery state machine, so a corrupt
 * ssthresh is repaired before tcp_end_cwnd_reduction() can copy it), in set_state() (right after
 * a state change, e.g. the Recovery -> Open that follows that copy), in cong_avoid() and undo.
 * Repair: ssthresh = Reno's halving of the window before the reduction (prior_cwnd / 2), cwnd =
 * that ssthresh. A legitimate ssthresh never exceeds the cwnd bound (it is at most 3/4 of a
 * bounded cwnd), except TCP_INFINITE_SSTHRESH, which is left alone.
 */
static __always_inline void cc_sanitize(struct sock *sk)
{
#ifdef CC_NO_CLAMP
	return;
#endif
	struct tcp_sock *tp = cc_tcp_sk(sk);
	u32 bound = cc_cwnd_bound(tp), ssthresh = tp->snd_ssthresh;
	bool repaired = false;

	if (ssthresh != TCP_INFINITE_SSTHRESH && ssthresh > bound) {
		ssthresh = cc_max(cc_min(tp->prior_cwnd, bound) >> 1, CC_MIN_CWND);
		tp->snd_ssthresh = ssthresh;
		repaired = true;
	}
	if (tp->snd_cwnd > bound) {
		tp->snd_cwnd = ssthresh != TCP_INFINITE_SSTHRESH ? cc_max(ssthresh, CC_MIN_CWND) : bound;
		tp->snd_cwnd_cnt = 0;
		repaired = true;
	}
	if (repaired)
		__sync_fetch_and_add(&cc_repairs, 1);
}

/* Reno's ssthresh (halve on loss): RFC 6356 §3 keeps the per-subflow decrease unchanged. */
static __always_inline u32 cc_ssthresh(struct sock *sk)
{
	return cc_max(cc_tcp_sk(sk)->snd_cwnd >> 1, CC_MIN_CWND);
}

/* tcp_reno_undo_cwnd() is max(cwnd, prior_cwnd); the kernel assigns the result to snd_cwnd
 * unchecked, so bound it like any other cwnd this CC sets. */
static __always_inline u32 cc_undo_cwnd(struct sock *sk)
{
	const struct tcp_sock *tp;
	u32 cwnd;

	cc_sanitize(sk);
	tp = cc_tcp_sk(sk);
	cwnd = cc_max(tp->snd_cwnd, tp->prior_cwnd);

#ifdef CC_NO_CLAMP
	return cwnd;
#endif
	return cc_max(cc_min(cwnd, cc_cwnd_bound(tp)), CC_MIN_CWND);
}

/*
 * What every cong_avoid here shares with Reno (RFC 5681): nothing unless the window limits the
 * sender, then slow start. Returns the acked packets left for congestion avoidance (0: done).
 */
static __always_inline u32 cc_slow_start_part(struct tcp_sock *tp, u32 acked)
{
	if (!cc_is_cwnd_limited(tp))
		return 0;
	if (cc_in_slow_start(tp)) {
		acked = tcp_slow_start(tp, acked);
		cc_clamp_cwnd(tp);
	}
	return acked;
}

/* Reno for plain TCP sockets and for subflows beyond MAX_SUBFLOWS. */
static __always_inline void cc_reno_cong_avoid(struct tcp_sock *tp, u32 acked)
{
	acked = cc_slow_start_part(tp, acked);
	if (!acked)
		return;
	tcp_cong_avoid_ai(tp, tp->snd_cwnd, acked);
	cc_clamp_cwnd(tp);
}

/*
 * The start of a coupled cong_avoid: this subflow's slot (and its connection's state in *conn),
 * or NULL when the socket is not coupled (plain TCP, not resolved yet, beyond MAX_SUBFLOWS), in
 * which case this ran Reno for the ACK already.
 */
static __always_inline struct subflow_slot *cc_coupled_or_reno(struct sock *sk, struct coupled_priv *ca,
								struct conn_state **conn, u32 acked)
{
	struct subflow_slot *me;

	if (!cc_resolve(sk, ca)) {
		cc_reno_cong_avoid(cc_tcp_sk(sk), acked);
		return NULL;
	}
	me = cc_my_slot(ca, conn);
	if (!me || !*conn) {
		cc_reno_cong_avoid(cc_tcp_sk(sk), acked);
		return NULL;
	}
	return me;
}

/*
 * Investigation build only (MPTCP_CC_DEBUG=1 node scripts/build-bpf.mjs ...): the first 63
 * suspicious events (cwnd or ssthresh above CC_DEBUG_MIN), read with
 * `bpftool map dump name cc_dbg`; entry 0 counts all. Kinds in mptcp_lia.bpf.c: 1 cong_avoid
 * entry, 4 undo_cwnd, 5 set_state, 6 ssthresh(), 7, 8 and 9 in_ack_event (9: ssthresh, then
 * how many times ssthresh() ran and its last result, how many times set_state() ran and its
 * last argument, on this subflow). In normal builds
 * cc_debug_if() compiles to nothing.
 */
#ifdef CC_DEBUG
struct cc_dbg_ev {
	u32 n;
	u32 kind;
	u32 a, b, c, d, e;
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, struct cc_dbg_ev);
} cc_dbg SEC(".maps");

static __always_inline void cc_debug(u32 kind, u32 a, u32 b, u32 c, u32 d, u32 e)
{
	u32 zero = 0, idx;
	struct cc_dbg_ev *cnt = bpf_map_lookup_elem(&cc_dbg, &zero), *ev;

	if (!cnt)
		return;
	idx = __sync_fetch_and_add(&cnt->n, 1) + 1;
	if (idx >= 64)
		return;
	ev = bpf_map_lookup_elem(&cc_dbg, &idx);
	if (!ev)
		return;
	ev->kind = kind;
	ev->a = a;
	ev->b = b;
	ev->c = c;
	ev->d = d;
	ev->e = e;
}
#define cc_debug_if(cond, k, a, b, c, d, e)                                               \
	do {                                                                               \
		if (cond)                                                                  \
			cc_debug(k, a, b, c, d, e);                                        \
	} while (0)
#define cc_debug_do(stmt) do { stmt; } while (0)
#else
#define cc_debug_do(stmt) do { } while (0)
#define cc_debug_if(cond, k, a, b, c, d, e) do { (void)(cond); } while (0)
#endif

#ifndef CC_NAME
#error "CC_NAME must be defined (the struct_ops map name and tcp_congestion_ops.name)"
#endif
#define CC_STR2(x) #x
#define CC_STR(x) CC_STR2(x)

#endif /* MPTCP_COUPLED_H */
