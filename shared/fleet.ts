/**
 * The Fleet page's types (docs/fleet.md): many hosts as a Prometheus server sees them (every host
 * runs `mptcp-studio exporter`), and the direct mode's remote web hosts (`mptcp-studio serve`
 * instances this host connects to with a URL and a token).
 */
import { z } from 'zod';

export const FleetRangeSchema = z.enum(['hour', 'day', 'week']);
export type FleetRange = z.infer<typeof FleetRangeSchema>;

export const FLEET_RANGE_SECONDS: Record<FleetRange, number> = { hour: 3600, day: 86_400, week: 604_800 };
/** Points per history series: a sparkline needs no more, whatever the range. */
export const FLEET_HISTORY_POINTS = 60;

/** [unix seconds, value] pairs, oldest first. */
const SeriesSchema = z.array(z.tuple([z.number(), z.number()]));
export type FleetSeries = z.infer<typeof SeriesSchema>;

export const FleetHostSchema = z.object({
  /** Prometheus `instance` label (host:port of the exporter). */
  instance: z.string(),
  job: z.string(),
  /** The last scrape reached the exporter (Prometheus `up`). */
  up: z.boolean(),
  mptcpEnabled: z.boolean().nullable(),
  pathManager: z.string().nullable(),
  scheduler: z.string().nullable(),
  kernelRelease: z.string().nullable(),
  connections: z.number().nullable(),
  subflowsByInterface: z.record(z.string(), z.number()),
  /** MPTcpExt fallback counters, per second over the last 5 minutes. */
  fallbacksPerSec: z.number().nullable(),
  /** MPTcpExt join failure counters, per second over the last 5 minutes. */
  joinFailuresPerSec: z.number().nullable(),
  /** The host's own web host, when it is registered in the direct mode (matched by host name). */
  webUrl: z.string().nullable(),
  history: z.object({
    up: SeriesSchema,
    connections: SeriesSchema,
    fallbacksPerSec: SeriesSchema,
    joinFailuresPerSec: SeriesSchema,
  }),
});
export type FleetHost = z.infer<typeof FleetHostSchema>;

export const FleetOverviewSchema = z.object({
  /** Null when no Prometheus is configured (`serve --prometheus URL`). */
  prometheusUrl: z.string().nullable(),
  range: FleetRangeSchema,
  fetchedAtMs: z.number(),
  /** How long the queries took, ms. */
  queryMs: z.number(),
  hosts: z.array(FleetHostSchema),
  /** Queries that failed, with Prometheus's message (the rest is still shown). */
  errors: z.array(z.string()),
});
export type FleetOverview = z.infer<typeof FleetOverviewSchema>;

export const FleetHostNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore');

export const FleetAddHostArgsSchema = z
  .object({
    name: FleetHostNameSchema,
    /** https://HOST:PORT/ of a `mptcp-studio serve --tls-cert …` (http:// only for loopback). */
    url: z.string().url().max(512),
    token: z.string().min(8).max(256),
    /** PEM of a CA or self-signed certificate to trust for this host (else the system's). */
    caCertPem: z.string().max(65_536).nullable().default(null),
  })
  .strict();
export type FleetAddHostArgs = z.output<typeof FleetAddHostArgsSchema>;

/** A registered remote web host and what a probe just found (the token is never sent back). */
export const FleetRemoteHostSchema = z.object({
  name: FleetHostNameSchema,
  url: z.string(),
  up: z.boolean(),
  /** Why it is down or refused: unreachable, TLS, wrong token, plain HTTP refused. */
  error: z.string().nullable(),
  netns: z.string().nullable(),
  kernelRelease: z.string().nullable(),
  mptcpEnabled: z.boolean().nullable(),
  pathManager: z.string().nullable(),
  checkedAtMs: z.number(),
  /** The pages show this host now (the header's host switcher). */
  selected: z.boolean(),
});
export type FleetRemoteHost = z.infer<typeof FleetRemoteHostSchema>;
