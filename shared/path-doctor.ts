/**
 * The Path doctor's results (docs/path-doctor.md): what `mptcp-studio scan` and `trace` print
 * with --json, and what the UI shows. zod schemas, so a saved result read back is checked.
 */
import { z } from 'zod';
import { forbiddenTargetReason, formatIp, parseIp } from './packet/addr';

/** RFC 8684 / RFC 6824 support as a scan sees it (docs/path-doctor.md "Classes"). */
export const ScanClassSchema = z.enum([
  'mptcp-v1',
  'mptcp-v0',
  'mirror',
  'tcp',
  'closed',
  'filtered',
  'syn-blackhole',
]);
export type ScanClass = z.infer<typeof ScanClassSchema>;

export const ScanRecordSchema = z.object({
  /** The address probed. */
  target: z.string(),
  /** The name it came from, when the user gave a host name. */
  host: z.string().nullable(),
  port: z.number().int().min(1).max(65535),
  class: ScanClassSchema,
  /** The server's MP_CAPABLE flags (mptcp-v1 / mptcp-v0 only). */
  mptcp: z
    .object({
      version: z.number().int(),
      checksumRequired: z.boolean(),
      denyJoinInitialAddress: z.boolean(),
    })
    .nullable(),
  /** Answer to a SYN + MP_JOIN with a random token: an RST proves a real MPTCP listener. */
  join: z.enum(['rst', 'synack', 'none']).nullable(),
  /** Connect mode: the connection fell back to TCP during the handshake or after data. */
  fallback: z.enum(['handshake', 'data']).nullable(),
  /** Round-trip time of the first answer, ms. */
  rttMs: z.number().nullable(),
  /** Plain words: what answered what. */
  reason: z.string(),
  probes: z.number().int().min(0),
});
export type ScanRecord = z.infer<typeof ScanRecordSchema>;

export const ScanSummarySchema = z.object({
  mode: z.enum(['raw', 'connect']),
  targets: z.number().int(),
  ports: z.array(z.number().int()),
  probesSent: z.number().int(),
  elapsedMs: z.number(),
  ratePps: z.number(),
  cancelled: z.boolean(),
  /** Per class, how many records. */
  counts: z.record(z.string(), z.number().int()),
});
export type ScanSummary = z.infer<typeof ScanSummarySchema>;

export const ScanResultSchema = z.object({ records: z.array(ScanRecordSchema), summary: ScanSummarySchema });
export type ScanResult = z.infer<typeof ScanResultSchema>;

export const HopChangeSchema = z.object({
  kind: z.string(),
  field: z.string(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  text: z.string(),
});

export const HopSchema = z.object({
  ttl: z.number().int(),
  /** Who answered (null: silent after every retry). */
  address: z.string().nullable(),
  rttMs: z.number().nullable(),
  /** How the ICMP quote was formed, and whether it held every TCP option. */
  quote: z
    .object({
      kind: z.enum(['rfc792', 'rfc1812', 'rfc4884', 'icmpv6']),
      transportBytes: z.number().int(),
      optionsVisible: z.boolean(),
    })
    .nullable(),
  /** The probe's MP_CAPABLE as this hop saw it. */
  mptcp: z.enum(['intact', 'stripped', 'modified', 'unknown']),
  /** Differences against the probe (TTL and checksums normalised away). */
  changes: z.array(HopChangeSchema),
  /** Changes not already seen at an earlier hop: what happened between the previous hop and this one. */
  newChanges: z.array(HopChangeSchema),
  /** This hop is the destination (it answered with TCP, or an ICMP port/admin unreachable). */
  destination: z.boolean(),
});
export type Hop = z.infer<typeof HopSchema>;

export const TraceResultSchema = z.object({
  target: z.string(),
  port: z.number().int(),
  source: z.string(),
  /** The interface the trace left by, when --from named one. */
  from: z.string().nullable(),
  hops: z.array(HopSchema),
  destination: z.object({
    class: ScanClassSchema.nullable(),
    /** The hop count to the destination, when it answered. */
    ttl: z.number().int().nullable(),
    reason: z.string(),
  }),
  verdict: z.string(),
  elapsedMs: z.number(),
  probesSent: z.number().int(),
});
export type TraceResult = z.infer<typeof TraceResultSchema>;

// ---------------------------------------------------------------------------------------------
// The subflow check (docs/path-doctor.md "Subflow check")

/**
 * What became of one subflow the check asked for. `ok`: joined and carried data; `idle`: joined,
 * alive, but the scheduler sent nothing on it; `refused`: the SYN + MP_JOIN was answered with an
 * RST (or the kernel closed the attempt with another error); `dropped`: no answer to the SYN +
 * MP_JOIN before the deadline (still SYN_SENT, retransmitting); `fallback`: the connection fell
 * back to plain TCP on this path (MP_CAPABLE lost in the handshake, or DSS lost with the data),
 * or the subflow joined and was reset once data flowed (MP_RST, reason middlebox: a box strips or
 * alters DSS); `closed`: joined, then closed for another reason; `not-created`: the kernel
 * refused to start it (no route, no free port, …).
 */
export const SubflowOutcomeSchema = z.enum([
  'ok',
  'idle',
  'refused',
  'dropped',
  'fallback',
  'closed',
  'not-created',
]);
export type SubflowOutcome = z.infer<typeof SubflowOutcomeSchema>;

export const CheckedSubflowSchema = z.object({
  /** The interface the subflow left from, when known. */
  interface: z.string().nullable(),
  localAddress: z.string(),
  /** 0 when the kernel never bound it. */
  localPort: z.number().int().min(0).max(65535),
  remoteAddress: z.string(),
  remotePort: z.number().int().min(1).max(65535),
  /** The connection's first subflow (MP_CAPABLE), not a join. */
  initial: z.boolean(),
  /** Not asked for by the check: another path manager of the namespace added it. */
  extra: z.boolean(),
  outcome: SubflowOutcomeSchema,
  reason: z.string(),
  /** Data bytes this subflow sent and received during the check (sock_diag tcp_info). */
  bytesSent: z.number().min(0),
  bytesReceived: z.number().min(0),
  retransmits: z.number().int().min(0),
  rttUs: z.number().int().nullable(),
  /** sk_err of a closed subflow (SUB_CLOSED), e.g. ECONNREFUSED. */
  error: z.string().nullable(),
  /** MP_RST reason of a reset subflow (RFC 8684 §3.6), e.g. middlebox. */
  resetReason: z.string().nullable(),
});
export type CheckedSubflow = z.infer<typeof CheckedSubflowSchema>;

export const CheckedPathSchema = z.object({
  interface: z.string().nullable(),
  localAddress: z.string(),
  /** The far end: the target, an address it announced (ADD_ADDR), or one the user gave. */
  remoteAddress: z.string(),
  /** The worst outcome of its subflows (ok when all are ok). */
  outcome: SubflowOutcomeSchema,
  subflows: z.number().int().min(0),
  counts: z.record(z.string(), z.number().int()),
  verdict: z.string(),
});
export type CheckedPath = z.infer<typeof CheckedPathSchema>;

export const SubflowCheckResultSchema = z.object({
  target: z.string(),
  port: z.number().int().min(1).max(65535),
  /** Subflows asked for per path (local address × remote address). */
  subflowsPerPath: z.number().int().min(1),
  connection: z.object({
    token: z.number().int().nullable(),
    /** The path the connection started on (its MP_CAPABLE subflow). */
    initialAddress: z.string().nullable(),
    /** The connection stayed MPTCP to the end (TCP_IS_MPTCP). */
    mptcp: z.boolean(),
    fallback: z.enum(['handshake', 'data']).nullable(),
    /**
     * net.mptcp.path_manager before the check; `switched`: the check created its socket under
     * the userspace path manager and put the value back at once (docs/path-doctor.md).
     */
    pathManager: z.object({ before: z.string(), switched: z.boolean() }),
  }),
  /** The far host's addresses the check joined to, and where each came from. */
  remotes: z
    .array(
      z.object({
        address: z.string(),
        port: z.number().int(),
        from: z.enum(['target', 'announced', 'given']),
      }),
    )
    .default([]),
  payload: z.object({
    bytes: z.number().int().min(0),
    sent: z.number().int().min(0),
    echoed: z.number().int().min(0),
    /** Every byte came back, and came back right. */
    intact: z.boolean(),
    /** The first stream offset that came back wrong. */
    mismatchAt: z.number().int().nullable(),
    ms: z.number().min(0),
  }),
  subflows: z.array(CheckedSubflowSchema),
  paths: z.array(CheckedPathSchema),
  /** MPTcpExt counters of the namespace that moved during the check (MPJoin*, fallbacks, MP_RST). */
  counters: z.record(z.string(), z.number()),
  verdict: z.string(),
  elapsedMs: z.number().min(0),
  cancelled: z.boolean(),
});
export type SubflowCheckResult = z.infer<typeof SubflowCheckResultSchema>;

// ---------------------------------------------------------------------------------------------
// Probes through the contract (shared/contract.ts `mptcp:probe:*`): arguments, progress, history

/** The probe helper's own ceiling (MAX_PPS in native/mptcp-probe.c): no argument can raise it. */
export const PROBE_MAX_PPS = 100_000;
/** The most target × port pairs one scan through the contract may probe (the CLI: 2²⁰ targets). */
export const PROBE_MAX_SCAN_PAIRS = 8192;
/** Probe runs an engine keeps for `mptcp:probe:history` (the oldest goes first). */
export const PROBE_HISTORY_MAX = 20;
/** Probe runs one engine runs at once. */
export const PROBE_MAX_RUNNING = 4;

const ipv4Bits = (b: Uint8Array): number =>
  (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;

/**
 * Why `spec` may not name probe targets, or null: an address, a CIDR range (at most 2¹³
 * addresses) or a host name. A literal or a range that reaches a multicast, broadcast or reserved
 * address is refused (a range touches one of those blocks only if its first or last address is in
 * it: CIDR blocks nest). Host names are checked after resolution, in the engine; an interface's
 * directed broadcast, by the probe helper.
 */
export function probeTargetProblem(spec: string, opts: { ranges?: boolean } = {}): string | null {
  const s = spec.trim();
  if (s.length === 0) return 'empty';
  if (s.includes('/')) {
    if (opts.ranges === false) return `${s}: one address or host name, not a range`;
    const [base, lenText] = s.split('/');
    const addr = parseIp(base ?? '');
    const len = Number(lenText);
    if (!addr || !/^\d{1,3}$/.test(lenText ?? '') || len > addr.length * 8) return `${s}: not a CIDR range`;
    const hostBits = addr.length * 8 - len;
    if (hostBits > 13) return `${s} has ${2 ** hostBits} addresses; at most ${2 ** 13} per scan here`;
    if (addr.length === 4) {
      const mask = hostBits === 32 ? 0 : (0xffffffff << hostBits) >>> 0;
      const first = (ipv4Bits(addr) & mask) >>> 0;
      const last = (first | (~mask >>> 0)) >>> 0;
      for (const n of [first, last]) {
        const b = Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
        const why = forbiddenTargetReason(b);
        if (why) return `${s} reaches ${formatIp(b)}: ${why}`;
      }
      return null;
    }
    // At most 13 host bits: the range shares its first bytes with its first address, which is
    // multicast or unspecified exactly when the range reaches such an address.
    const first = Uint8Array.from(addr);
    for (let bit = len; bit < 128; bit++) first[bit >> 3] = (first[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7));
    const why = forbiddenTargetReason(first);
    return why ? `${s} reaches ${formatIp(first)}: ${why}` : null;
  }
  const literal = parseIp(s);
  if (literal) {
    const why = forbiddenTargetReason(literal);
    return why ? `${s} is ${why}` : null;
  }
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(s))
    return `${s}: not an address, range or host name`;
  return null;
}

const refineTarget =
  (ranges: boolean) =>
  (s: string, ctx: z.RefinementCtx): void => {
    const why = probeTargetProblem(s, { ranges });
    if (why) ctx.addIssue({ code: 'custom', message: why });
  };

/** A scan target: an address, a CIDR range or a host name; never multicast or broadcast. */
export const ProbeTargetSchema = z.string().max(255).superRefine(refineTarget(true));
/** One destination (trace, subflow check): an address or a host name. */
export const ProbeHostSchema = z.string().max(255).superRefine(refineTarget(false));
export const ProbePortSchema = z.number().int().min(1).max(65535);
/** An interface name (IFNAMSIZ: 15 characters) or a local address to probe from. */
export const ProbeSourceSchema = z
  .string()
  .min(1)
  .max(45)
  .regex(/^[A-Za-z0-9_.:@-]+$/, 'an interface name or an address');
/** Chosen by the client, so that it knows its run's progress events from the first one. */
export const ProbeRunIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, '8 to 64 letters, digits, - or _');

export const ProbeScanArgsSchema = z
  .object({
    runId: ProbeRunIdSchema,
    targets: z.array(ProbeTargetSchema).min(1).max(256),
    ports: z.array(ProbePortSchema).min(1).max(1024),
    mode: z.enum(['raw', 'connect']).default('raw'),
    /** Probes per second in all; the helper's ceiling is PROBE_MAX_PPS. */
    ratePps: z.number().int().min(1).max(PROBE_MAX_PPS).default(100),
    perTargetPps: z.number().int().min(1).max(PROBE_MAX_PPS).default(10),
    retries: z.number().int().min(0).max(10).default(1),
    timeoutMs: z.number().int().min(10).max(60_000).optional(),
    join: z.boolean().default(false),
  })
  .strict();
export type ProbeScanArgs = z.infer<typeof ProbeScanArgsSchema>;

export const ProbeTraceArgsSchema = z
  .object({
    runId: ProbeRunIdSchema,
    target: ProbeHostSchema,
    port: ProbePortSchema,
    /** Interfaces or local addresses to trace from, side by side; none: by route. */
    from: z.array(ProbeSourceSchema).max(16).default([]),
    maxTtl: z.number().int().min(1).max(64).default(30),
    retries: z.number().int().min(0).max(5).default(2),
    timeoutMs: z.number().int().min(10).max(60_000).default(1000),
    ratePps: z.number().int().min(1).max(10_000).default(100),
  })
  .strict();
export type ProbeTraceArgs = z.infer<typeof ProbeTraceArgsSchema>;

export const ProbeSubflowsArgsSchema = z
  .object({
    runId: ProbeRunIdSchema,
    target: ProbeHostSchema,
    /** The port of an MPTCP echo server (`mptcp-studio responder --port P`). */
    port: ProbePortSchema,
    /** Interfaces or local addresses to force subflows from; none: every usable interface. */
    from: z.array(ProbeSourceSchema).max(16).default([]),
    subflowsPerPath: z.number().int().min(1).max(8).default(1),
    payloadBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    /** How long a join may take before it counts as dropped. */
    joinTimeoutMs: z.number().int().min(200).max(30_000).default(3000),
    /**
     * More addresses of the far host to join to, besides the target and what it announces
     * (ADD_ADDR): every local address is paired with every remote address of its family.
     */
    remotes: z.array(ProbeHostSchema).max(8).default([]),
    /**
     * Consent to switch the namespace's net.mptcp.path_manager from `kernel` to `userspace` for
     * the moment the check's socket is created (about a millisecond; docs/path-doctor.md): MPTCP
     * sockets other programs create in that window get no subflows from the in-kernel path
     * manager. Without it, a namespace under the in-kernel path manager refuses the check before
     * anything changes.
     */
    allowPmSwitch: z.boolean().default(false),
  })
  .strict();
export type ProbeSubflowsArgs = z.infer<typeof ProbeSubflowsArgsSchema>;

export const ProbeKindSchema = z.enum(['scan', 'trace', 'subflows']);
export type ProbeKind = z.infer<typeof ProbeKindSchema>;
export const ProbeStateSchema = z.enum(['running', 'done', 'failed', 'cancelled']);
export type ProbeState = z.infer<typeof ProbeStateSchema>;

export const ProbeStartedSchema = z.object({ runId: ProbeRunIdSchema, startedAtMs: z.number() });

/** `mptcp:probe:progress`: a run's state; scans carry the records finished since the last one. */
export const ProbeProgressSchema = z.object({
  runId: ProbeRunIdSchema,
  kind: ProbeKindSchema,
  state: ProbeStateSchema,
  done: z.number().int().min(0),
  total: z.number().int().min(0),
  probesSent: z.number().int().min(0),
  message: z.string(),
  records: z.array(ScanRecordSchema).max(1000).optional(),
  error: z.string().nullable(),
});
export type ProbeProgress = z.infer<typeof ProbeProgressSchema>;

export const ProbeResultSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('scan'), scan: ScanResultSchema }),
  z.object({ kind: z.literal('trace'), traces: z.array(TraceResultSchema), cancelled: z.boolean() }),
  z.object({ kind: z.literal('subflows'), check: SubflowCheckResultSchema }),
]);
export type ProbeResult = z.infer<typeof ProbeResultSchema>;

/** One run as the history keeps it. */
export const ProbeRunSchema = z.object({
  runId: ProbeRunIdSchema,
  kind: ProbeKindSchema,
  state: ProbeStateSchema,
  /** What was probed, in a few words ("10.0.5.2 port 8001 from c0, c1"). */
  title: z.string(),
  startedAtMs: z.number(),
  finishedAtMs: z.number().nullable(),
  /** The verdict or a summary line; the error when it failed. */
  summary: z.string(),
  /** The whole result (null while running, or when it failed). */
  result: ProbeResultSchema.nullable(),
});
export type ProbeRun = z.infer<typeof ProbeRunSchema>;

/** "80,443,8000-8010" → ports (1..65535, at most 1024), or why not. */
export function parsePortList(text: string): number[] | string {
  const ports: number[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part.trim());
    if (!m) return `not a port or port range: ${part.trim() || '(empty)'}`;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b > 65535 || b < a) return `ports are 1..65535: ${part.trim()}`;
    if (b - a >= 1024) return 'at most 1024 ports';
    for (let p = a; p <= b; p++) ports.push(p);
  }
  const unique = [...new Set(ports)];
  return unique.length > 1024 ? 'at most 1024 ports' : unique;
}
