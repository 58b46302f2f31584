/**
 * Schemas for the configuration part of the contract: plans, apply reports, profiles, advice.
 */
import { z } from 'zod';
import { ApiErrorSchema } from './result';
import { MptcpConfigSchema, ProfileSchema } from './config';
import { LimitsSchema, type ConfigRecovery } from './types';
import { CcIdSchema } from './cc';

const EndpointSpecSchema = z.object({
  id: z.number().int().min(0).max(255),
  family: z.enum(['inet', 'inet6']),
  address: z.string(),
  port: z.number().int().nullable(),
  ifindex: z.number().int().nullable(),
  ifname: z.string().nullable(),
  flags: z.object({
    signal: z.boolean(),
    subflow: z.boolean(),
    backup: z.boolean(),
    fullmesh: z.boolean(),
    laminar: z.boolean(),
  }),
});

const RuleSpecSchema = z.object({
  family: z.enum(['inet', 'inet6']),
  priority: z.number().int().min(0),
  src: z.string(),
  srcLen: z.number().int().min(0).max(128),
  table: z.number().int().min(0),
});

const RouteSpecSchema = z.object({
  family: z.enum(['inet', 'inet6']),
  table: z.number().int().min(0),
  dst: z.string().nullable(),
  dstLen: z.number().int().min(0).max(128),
  gateway: z.string().nullable(),
  ifindex: z.number().int(),
  ifname: z.string(),
  prefsrc: z.string().nullable(),
  scope: z.number().int().min(0).max(255),
});

export const StepSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sysctl'), name: z.string(), from: z.string(), to: z.string() }),
  z.object({ kind: z.literal('limits'), from: LimitsSchema, to: LimitsSchema }),
  z.object({ kind: z.literal('endpoint-del'), endpoint: EndpointSpecSchema }),
  z.object({ kind: z.literal('endpoint-add'), endpoint: EndpointSpecSchema }),
  /**
   * MPTCP_PM_CMD_SET_FLAGS in place (`ip mptcp endpoint change`): the live endpoint with its flags
   * before, and the two flags the kernel lets change (docs/configuration.md, "Changing flags").
   */
  z.object({
    kind: z.literal('endpoint-flags'),
    endpoint: EndpointSpecSchema,
    to: z.object({ backup: z.boolean(), fullmesh: z.boolean() }),
  }),
  z.object({
    kind: z.literal('mtu'),
    ifname: z.string(),
    ifindex: z.number().int(),
    from: z.number().int(),
    to: z.number().int(),
  }),
  z.object({
    kind: z.literal('cc-register'),
    name: CcIdSchema,
    kernelName: z.string(),
    objectPath: z.string().nullable(),
  }),
  z.object({
    kind: z.literal('cc-unregister'),
    name: CcIdSchema,
    kernelName: z.string(),
    objectPath: z.string().nullable(),
  }),
  /** Source routing (shared/plan-routing.ts): only rules and routes MPTCP Studio marks as its own. */
  z.object({ kind: z.literal('rule-add'), rule: RuleSpecSchema }),
  z.object({ kind: z.literal('rule-del'), rule: RuleSpecSchema }),
  z.object({ kind: z.literal('route-add'), route: RouteSpecSchema }),
  z.object({ kind: z.literal('route-del'), route: RouteSpecSchema }),
]);

/**
 * What a step does to live traffic, computed from the live connections (shared/plan.ts
 * stepImpact). `closes`: live subflows are closed, which needs the user's consent to apply.
 */
export const StepImpactSchema = z.object({
  /**
   * none: nothing live is touched. new: applies to new connections (or sockets) only. live: live
   * connections change, every subflow stays open. closes: live subflows are closed.
   */
  level: z.enum(['none', 'new', 'live', 'closes']),
  /** The sentence people read ("closes 6 live subflows of 3 connections (10.91.2.1)"). */
  text: z.string(),
  /** For level closes: how many, and from which local address (null: not known). */
  closes: z
    .object({
      subflows: z.number().int().min(0),
      connections: z.number().int().min(0),
      address: z.string(),
    })
    .nullable(),
});
export type StepImpact = z.infer<typeof StepImpactSchema>;

export const PlannedStepSchema = z.object({
  step: StepSchema,
  description: z.string(),
  shell: z.string(),
  impact: StepImpactSchema,
});
export type PlannedStep = z.infer<typeof PlannedStepSchema>;

export const PlanViewSchema = z.object({
  steps: z.array(PlannedStepSchema),
  errors: z.array(z.string()),
  warnings: z.array(z.string()),
  /** The live connections the impacts were computed from; null when they could not be read. */
  live: z
    .object({
      connections: z.number().int().min(0),
      subflows: z.number().int().min(0),
      takenAtMs: z.number(),
    })
    .nullable(),
});
export type PlanView = z.infer<typeof PlanViewSchema>;

export const StepResultSchema = z.object({
  step: StepSchema,
  description: z.string(),
  ok: z.boolean(),
  error: ApiErrorSchema.optional(),
});

export const ApplyReportSchema = z.object({
  ok: z.boolean(),
  /** Refusals found while planning; nothing was changed. */
  planErrors: z.array(z.string()),
  applied: z.array(StepResultSchema),
  failed: StepResultSchema.nullable(),
  rolledBack: z.array(StepResultSchema),
  /** After a failure or a revert: whether the state read back equals the state before. */
  restored: z.boolean().nullable(),
  /** Confirm-or-revert: when the change reverts by itself unless confirmed (ms since epoch). */
  revertAtMs: z.number().nullable(),
  /**
   * Refused because steps close live subflows and the apply did not allow it (planErrors says
   * which); nothing was changed.
   */
  needsConsent: z.boolean().optional(),
});
export type ApplyReport = z.infer<typeof ApplyReportSchema>;

export const ApplyArgsSchema = z
  .object({
    config: MptcpConfigSchema,
    /** Revert automatically unless confirmed within this many seconds (null = no safeguard). */
    confirmWithinS: z.number().int().min(5).max(3600).nullable().default(null),
    /**
     * Go ahead even when steps close live subflows (StepImpact level `closes`). Without it such an
     * apply is refused before anything changes (the UI's checkbox, the CLI's --allow-disruption).
     */
    allowDisruption: z.boolean().default(false),
  })
  .strict();

export const PendingConfirmationSchema = z.object({
  revertAtMs: z.number().nullable(),
});

const StepOutcomeSchema = z.object({
  description: z.string(),
  ok: z.boolean(),
  error: z.string().nullable(),
});

/**
 * What happened to a configuration change, as it happens: an apply (done, or failed and rolled
 * back), a confirmation, a revert (asked for, at the confirmation deadline, or because the engine
 * holding it shut down), a revert that failed. Sent as mptcp:config:outcome to every client.
 */
export const ConfigOutcomeSchema = z.object({
  kind: z.enum(['applied', 'apply-failed', 'confirmed', 'reverted', 'revert-failed']),
  /**
   * What started a revert: a client asked (user), the confirmation deadline passed (deadline), the
   * engine holding the change shut down before it was confirmed (shutdown: its window, command or
   * agent connection went away). Null for the other kinds.
   */
  reason: z.enum(['user', 'deadline', 'shutdown']).nullable(),
  atMs: z.number(),
  /** When the change was applied. */
  appliedAtMs: z.number().nullable(),
  /** The confirmation window it was applied with (null: none). */
  confirmWithinS: z.number().nullable(),
  /** applied: reverts at this time unless confirmed. */
  revertAtMs: z.number().nullable(),
  /** apply-failed, reverted, revert-failed: whether the state read back is the one before the apply. */
  restored: z.boolean().nullable(),
  /** The steps that ran (applied, confirmed: the applied change; reverted: the undo steps). */
  steps: z.array(StepOutcomeSchema),
  /** The step that failed and what the kernel said. */
  failed: StepOutcomeSchema.nullable(),
  /** After a failure: the steps undone. */
  rolledBack: z.array(StepOutcomeSchema),
});
export type ConfigOutcome = z.infer<typeof ConfigOutcomeSchema>;

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/**
 * The outcome in words, for the Configure page, the timeline and the CLI; `time` formats a
 * timestamp for the reader (local clock time in the UI).
 */
export function describeOutcome(o: ConfigOutcome, time: (ms: number) => string): string {
  const at = time(o.atMs);
  const exact =
    o.restored === null
      ? ''
      : o.restored
        ? ': the state before the apply is back exactly'
        : '; the state read back differs from the one before the apply: check the Overview';
  switch (o.kind) {
    case 'applied':
      return `Applied at ${at}: ${plural(o.steps.length, 'step')}${
        o.revertAtMs !== null ? `; reverts by itself at ${time(o.revertAtMs)} unless confirmed` : ''
      }.`;
    case 'apply-failed':
      return `Apply failed at ${at}${o.failed ? ` (${o.failed.description}: ${o.failed.error ?? 'refused'})` : ''}; ${
        o.rolledBack.length > 0
          ? `${plural(o.rolledBack.length, 'step')} rolled back`
          : 'nothing to roll back'
      }${exact}.`;
    case 'confirmed':
      return `Confirmed at ${at}: the change applied${o.appliedAtMs !== null ? ` at ${time(o.appliedAtMs)}` : ''} stays.`;
    case 'reverted': {
      const why =
        o.reason === 'deadline'
          ? `not confirmed within ${o.confirmWithinS ?? '?'} s`
          : o.reason === 'shutdown'
            ? 'the MPTCP Studio engine holding it stopped before it was confirmed (its window, command or connection went away)'
            : 'on request';
      return `Reverted at ${at}: ${why}${exact}.`;
    }
    case 'revert-failed':
      return `Revert failed at ${at}${o.failed ? ` (${o.failed.description}: ${o.failed.error ?? 'refused'})` : ''}; the change is still applied and awaiting confirmation${exact}.`;
  }
}

/** A crash recovery (mptcp:config:recovered) as an entry of the same timeline. */
export type ConfigTimelineEntry =
  | { source: 'config'; timestampMs: number; outcome: ConfigOutcome }
  | { source: 'config'; timestampMs: number; recovery: ConfigRecovery };

export const ProfileSummarySchema = z.object({
  name: z.string(),
  description: z.string(),
  builtIn: z.boolean(),
});
export type ProfileSummary = z.infer<typeof ProfileSummarySchema>;

export const ProfileNameSchema = z
  .string()
  .min(1)
  .max(80)
  .regex(/^[^/\\\0]+$/, 'must not contain / or \\')
  .refine((s) => s !== '.' && s !== '..', 'must not be . or ..');

export const ExportFormatSchema = z.enum(['json', 'sh', 'sysctl.d']);
export type ExportFormat = z.infer<typeof ExportFormatSchema>;

export const ExportedTextSchema = z.object({
  filename: z.string(),
  text: z.string(),
});

export const AdviceSchema = z.object({
  /** Stable id for tests and for the fix button. */
  id: z.string(),
  severity: z.enum(['info', 'warning', 'error']),
  title: z.string(),
  detail: z.string(),
  /** A config fragment that fixes it, if a one-click fix makes sense. */
  fix: MptcpConfigSchema.nullable(),
  /** A path worth tracing with the Path doctor (a connection that fell back to TCP). */
  trace: z
    .object({ target: z.string(), port: z.number().int().min(1).max(65535), from: z.string().nullable() })
    .nullable()
    .optional(),
});
export type Advice = z.infer<typeof AdviceSchema>;

export { ProfileSchema };
