/**
 * The configuration model: what a user wants the kernel's MPTCP state to be, and the profile file
 * that carries it. Every field is optional in a desired config ("leave as is"); an exported
 * config has every field the kernel exposes, so applying it elsewhere reproduces the state.
 *
 * Ranges are the kernel's own where it enforces them, and ours where it does not (the kernel
 * accepts negative add_addr_timeout and close_timeout, reference G15): a value outside a range
 * here is refused before anything is sent.
 */
import { z } from 'zod';

export const PROFILE_SCHEMA_VERSION = 1;

const ifnameRe = /^[A-Za-z0-9_.:@-]{1,15}$/; // IFNAMSIZ is 16 including the NUL
const globRe = /^[A-Za-z0-9_.:@*?[\]-]{1,32}$/;

export const Ipv4Schema = z
  .string()
  .regex(
    /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/,
    'must be an IPv4 address',
  );
export const Ipv6Schema = z
  .string()
  .regex(/^[0-9a-fA-F:.]{2,45}$/, 'must be an IPv6 address')
  .refine((s) => s.includes(':'), 'must be an IPv6 address');
export const IpAddressSchema = z.union([Ipv4Schema, Ipv6Schema]);

/** Endpoint flags a user may set (implicit is the kernel's own; reference §1.3). */
export const EndpointFlagsInputSchema = z
  .object({
    signal: z.boolean().default(false),
    subflow: z.boolean().default(false),
    backup: z.boolean().default(false),
    fullmesh: z.boolean().default(false),
    laminar: z.boolean().default(false),
  })
  .strict();
export type EndpointFlagsInput = z.infer<typeof EndpointFlagsInputSchema>;

/** iproute2's rules (ip/ipmptcp.c), checked before the kernel sees anything. */
function checkEndpointRules(
  ep: { flags: EndpointFlagsInput; port?: number | null | undefined },
  ctx: z.RefinementCtx,
): void {
  if (ep.flags.signal && ep.flags.fullmesh) {
    ctx.addIssue({ code: 'custom', path: ['flags'], message: 'signal and fullmesh cannot be combined' });
  }
  if (ep.port != null && (!ep.flags.signal || ep.flags.subflow)) {
    ctx.addIssue({ code: 'custom', path: ['port'], message: 'a port needs the signal flag and not subflow' });
  }
}

export const DesiredEndpointSchema = z
  .object({
    address: IpAddressSchema,
    /** 1..255; omit to let the kernel choose. */
    id: z.number().int().min(1).max(255).optional(),
    port: z.number().int().min(1).max(65535).nullable().optional(),
    /** Bind to a device (MPTCP_PM_ADDR_ATTR_IF_IDX), by name. */
    ifname: z.string().regex(ifnameRe, 'must be an interface name').nullable().optional(),
    flags: EndpointFlagsInputSchema,
  })
  .strict()
  .superRefine(checkEndpointRules);
export type DesiredEndpoint = z.infer<typeof DesiredEndpointSchema>;

/** A per-interface rule: every usable address on matching interfaces becomes an endpoint. */
export const EndpointPolicySchema = z
  .object({
    /** Interface name or glob (`wlan*`, `eth[01]`). */
    match: z.string().regex(globRe, 'must be an interface name or glob'),
    flags: EndpointFlagsInputSchema,
    port: z.number().int().min(1).max(65535).nullable().optional(),
    families: z
      .array(z.enum(['inet', 'inet6']))
      .min(1)
      .default(['inet', 'inet6']),
  })
  .strict()
  .superRefine(checkEndpointRules);
export type EndpointPolicy = z.infer<typeof EndpointPolicySchema>;

export const TripletSchema = z
  .object({
    minBytes: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31 - 1),
    defaultBytes: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31 - 1),
    maxBytes: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31 - 1),
  })
  .strict()
  .refine(
    (t) => t.minBytes <= t.defaultBytes && t.defaultBytes <= t.maxBytes,
    'must satisfy min <= default <= max',
  );

/** Names in /proc/sys follow this; a value is written as text, so it must be one token. */
const kernelNameRe = /^[A-Za-z0-9_-]{1,32}$/;

export const MptcpSysctlsSchema = z
  .object({
    checksumEnabled: z.boolean(),
    allowJoinInitialAddrPort: z.boolean(),
    /** Seconds; the kernel accepts negatives, which make no sense: 0..3600 here. */
    addAddrTimeoutS: z.number().int().min(0).max(3600),
    closeTimeoutS: z.number().int().min(0).max(3600),
    staleLossCnt: z.number().int().min(0).max(0xffffffff),
    blackholeTimeoutS: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    synRetransBeforeTcpFallback: z.number().int().min(0).max(255),
  })
  .partial()
  .strict();
export type MptcpSysctls = z.infer<typeof MptcpSysctlsSchema>;

export const MptcpConfigSchema = z
  .object({
    enabled: z.boolean(),
    pathManager: z.string().regex(kernelNameRe, 'must be a path manager name'),
    scheduler: z.string().regex(kernelNameRe, 'must be a scheduler name'),
    /** In-kernel PM limits; the kernel caps both at 8 (MPTCP_PM_ADDR_MAX). */
    limits: z
      .object({ subflows: z.number().int().min(0).max(8), addAddrAccepted: z.number().int().min(0).max(8) })
      .strict(),
    /** The exact endpoint set (replaces the kernel's). At most 8 in the in-kernel PM. */
    endpoints: z.array(DesiredEndpointSchema).max(8, 'the in-kernel path manager holds at most 8 endpoints'),
    /** Alternative to `endpoints`: rules per interface, expanded against the live addresses. */
    endpointPolicy: z.array(EndpointPolicySchema).max(32),
    sysctls: MptcpSysctlsSchema,
    /** net.ipv4.tcp_congestion_control: the default for new sockets (MPTCP subflows included). */
    congestionControl: z.string().regex(kernelNameRe, 'must be a congestion control name'),
    buffers: z
      .object({
        tcpRmem: TripletSchema,
        tcpWmem: TripletSchema,
        rmemMaxBytes: z
          .number()
          .int()
          .min(1)
          .max(2 ** 31 - 1),
        wmemMaxBytes: z
          .number()
          .int()
          .min(1)
          .max(2 ** 31 - 1),
      })
      .partial()
      .strict(),
    /** MTU per interface name; 68 is IPv4's minimum (RFC 791), 1280 IPv6's (RFC 8200). */
    mtu: z.record(
      z.string().regex(ifnameRe, 'must be an interface name'),
      z.number().int().min(68).max(65535),
    ),
  })
  .partial()
  .strict()
  .superRefine((c, ctx) => {
    if (c.endpoints && c.endpointPolicy) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpointPolicy'],
        message: 'give either endpoints or endpointPolicy, not both',
      });
    }
    const ids = new Set<number>();
    const addrs = new Set<string>();
    for (const [i, ep] of (c.endpoints ?? []).entries()) {
      if (ep.id !== undefined) {
        if (ids.has(ep.id))
          ctx.addIssue({
            code: 'custom',
            path: ['endpoints', i, 'id'],
            message: `duplicate endpoint id ${ep.id}`,
          });
        ids.add(ep.id);
      }
      const key = `${ep.address}:${ep.port ?? 0}`;
      if (addrs.has(key))
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints', i, 'address'],
          message: `duplicate endpoint ${ep.address}`,
        });
      addrs.add(key);
    }
  });
export type MptcpConfig = z.infer<typeof MptcpConfigSchema>;

export const ProfileSchema = z
  .object({
    schemaVersion: z.literal(PROFILE_SCHEMA_VERSION),
    name: z.string().min(1).max(80),
    description: z.string().max(2000).optional(),
    config: MptcpConfigSchema,
  })
  .strict();
export type Profile = z.infer<typeof ProfileSchema>;

export type ProfileParse = { ok: true; profile: Profile } | { ok: false; errors: string[] };

/** Turn zod issues into "field: rule" sentences a user can act on. */
export function describeIssues(issues: z.ZodError['issues']): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(profile)'}: ${i.message}`);
}

/**
 * Parse a profile file's text. Refuses, with a reason: malformed JSON, a profile from a newer
 * version, wrong types, out-of-range values and unknown fields. Older versions are migrated
 * (none exist yet: version 1 is the first).
 */
export function parseProfile(text: string): ProfileParse {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return {
      ok: false,
      errors: [`(profile): not valid JSON: ${e instanceof Error ? e.message : String(e)}`],
    };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, errors: ['(profile): must be a JSON object'] };
  }
  const version = (raw as { schemaVersion?: unknown }).schemaVersion;
  if (typeof version === 'number' && version > PROFILE_SCHEMA_VERSION) {
    return {
      ok: false,
      errors: [
        `schemaVersion: profile version ${version} is newer than this MPTCP Studio understands (${PROFILE_SCHEMA_VERSION}); update the app`,
      ],
    };
  }
  const parsed = ProfileSchema.safeParse(raw);
  return parsed.success
    ? { ok: true, profile: parsed.data }
    : { ok: false, errors: describeIssues(parsed.error.issues) };
}
