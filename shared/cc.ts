/**
 * Coupled congestion control for MPTCP, shipped as eBPF struct_ops programs (tcp_congestion_ops)
 * that the engine registers with bpftool. Upstream Linux has no coupled CC: each subflow runs an
 * uncoupled controller (cubic, reno, ...), which takes more than its share of a bottleneck that
 * subflows share. LIA (RFC 6356), OLIA and Balia couple the subflows' windows so that the
 * connection is no more aggressive than one TCP flow on a shared bottleneck.
 *
 * The contract names an algorithm by its canonical kernel name (an enum, never a path or a free
 * string); the name actually registered can carry a suffix (tests register uniquely named copies
 * so they never disturb a real `mptcp_lia`), so each entry also says its `kernelName`.
 */
import { z } from 'zod';

export const CcIdSchema = z.enum(['mptcp_lia', 'mptcp_olia', 'mptcp_balia']);
export type CcId = z.infer<typeof CcIdSchema>;

export interface CcAlgorithmInfo {
  id: CcId;
  /** The `algo` the BPF build takes (scripts/build-bpf.mjs). */
  algo: 'lia' | 'olia' | 'balia';
  title: string;
  reference: string;
}

export const CC_ALGORITHMS: readonly CcAlgorithmInfo[] = [
  {
    id: 'mptcp_lia',
    algo: 'lia',
    title: 'LIA: Linked Increases Algorithm',
    reference: 'RFC 6356',
  },
  {
    id: 'mptcp_olia',
    algo: 'olia',
    title: 'OLIA: Opportunistic Linked Increases Algorithm',
    reference: 'draft-khalili-mptcp-congestion-control, IEEE/ACM ToN 2013',
  },
  {
    id: 'mptcp_balia',
    algo: 'balia',
    title: 'Balia: Balanced Linked Adaptation',
    reference: 'draft-walid-mptcp-congestion-control, IEEE/ACM ToN 2016',
  },
];

/** One line for the UI: what coupling buys. */
export const COUPLED_CC_SUMMARY = 'coupled: fair to single-path TCP on shared bottlenecks, RFC 6356';

/** Why an algorithm cannot be loaded here; each has a sentence in `reason`. */
export const CcBlockerSchema = z.enum([
  'no-btf',
  'no-struct-ops',
  'missing-kfuncs',
  'no-bpftool',
  'no-object',
  'bad-object',
  'no-privileges',
]);
export type CcBlocker = z.infer<typeof CcBlockerSchema>;

export const CcStatusSchema = z.object({
  id: CcIdSchema,
  /** The name in tcp_available_congestion_control (id plus a suffix in tests). */
  kernelName: z.string(),
  title: z.string(),
  reference: z.string(),
  /** Loadable here: BTF, kernel support, bpftool, the object file and privileges are all present. */
  available: z.boolean(),
  /** Listed in net.ipv4.tcp_available_congestion_control right now (global, not per namespace). */
  registered: z.boolean(),
  /** Registered as a BPF struct_ops map (bpftool struct_ops show); null when that cannot be read. */
  bpfRegistered: z.boolean().nullable(),
  /** What blocks loading; null when available. */
  blocker: CcBlockerSchema.nullable(),
  reason: z.string().nullable(),
  /** The default CC of the engine's network namespace is this one. */
  isNamespaceDefault: z.boolean(),
  /** MPTCP subflows in the engine's namespace using it (sock_diag INET_DIAG_CONG); null = unknown. */
  inUseBySubflows: z.number().int().min(0).nullable(),
  /**
   * Why an unload would be refused now; null when it would go ahead (or nothing is registered).
   * Only the engine's own network namespace is checked (its default and its subflows; unknown
   * subflows block): registration is global, so other namespaces may still use it.
   */
  unloadBlockedReason: z.string().nullable(),
  /** The compiled program (shown as the plan's shell equivalent); null when not found. */
  objectPath: z.string().nullable(),
  /** Kernel functions the program calls that this kernel lacks (empty when all present or unknown). */
  missingKfuncs: z.array(z.string()),
});
export type CcStatus = z.infer<typeof CcStatusSchema>;

export const CcListSchema = z.array(CcStatusSchema);

/**
 * How often each registered coupled CC repaired an out-of-bound ssthresh or cwnd since it was
 * registered (`cc_repairs` in the object's .bss, docs/coupled-cc-anomaly.md "The repair").
 */
export const CcRepairsSchema = z.object({
  /** Why the counts cannot be read here (no bpftool, not permitted); null when they were read. */
  error: z.string().nullable(),
  /** One entry per shipped congestion control registered as a BPF struct_ops now. */
  counts: z.array(z.object({ id: CcIdSchema, kernelName: z.string(), repairs: z.number().int().min(0) })),
});
export type CcRepairs = z.infer<typeof CcRepairsSchema>;

export const CcActionArgsSchema = z.object({ name: CcIdSchema }).strict();

export const CcActionResultSchema = z.object({
  /** False when there was nothing to do (already registered, or not registered). */
  changed: z.boolean(),
  message: z.string(),
  status: CcStatusSchema,
});
export type CcActionResult = z.infer<typeof CcActionResultSchema>;

/** The shell equivalent of registering, for plans and docs. */
export function ccRegisterShell(s: Pick<CcStatus, 'objectPath' | 'kernelName'>): string {
  const obj = s.objectPath ?? `<${s.kernelName}.bpf.o>`;
  return `bpftool struct_ops register ${/[\s'"$`\\]/.test(obj) ? `'${obj.replace(/'/g, `'\\''`)}'` : obj}`;
}

export function ccUnregisterShell(kernelName: string): string {
  return `bpftool struct_ops unregister name ${kernelName}`;
}
