/**
 * Schemas for the configuration part of the contract: plans, apply reports, profiles, advice.
 */
import { z } from 'zod';
import { ApiErrorSchema } from './result';
import { MptcpConfigSchema, ProfileSchema } from './config';
import { LimitsSchema } from './types';
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

export const StepSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sysctl'), name: z.string(), from: z.string(), to: z.string() }),
  z.object({ kind: z.literal('limits'), from: LimitsSchema, to: LimitsSchema }),
  z.object({ kind: z.literal('endpoint-del'), endpoint: EndpointSpecSchema }),
  z.object({ kind: z.literal('endpoint-add'), endpoint: EndpointSpecSchema }),
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
]);

export const PlannedStepSchema = z.object({
  step: StepSchema,
  description: z.string(),
  shell: z.string(),
});
export type PlannedStep = z.infer<typeof PlannedStepSchema>;

export const PlanViewSchema = z.object({
  steps: z.array(PlannedStepSchema),
  errors: z.array(z.string()),
  warnings: z.array(z.string()),
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
});
export type ApplyReport = z.infer<typeof ApplyReportSchema>;

export const ApplyArgsSchema = z
  .object({
    config: MptcpConfigSchema,
    /** Revert automatically unless confirmed within this many seconds (null = no safeguard). */
    confirmWithinS: z.number().int().min(5).max(3600).nullable().default(null),
  })
  .strict();

export const PendingConfirmationSchema = z.object({
  revertAtMs: z.number().nullable(),
});

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
});
export type Advice = z.infer<typeof AdviceSchema>;

export { ProfileSchema };
