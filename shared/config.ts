/**
 * The configuration model: what a user wants the kernel's MPTCP state to be, and the profile file
 * that carries it. Every field is optional in a desired config ("leave as is"); an exported
 * config has every field the kernel exposes, so applying it elsewhere reproduces the state.
 *
 * Ranges are the kernel's own where it enforces them, and ours where it does not (the kernel
 * accepts negative add_addr_timeout and close_timeout, docs/kernel-interfaces.md, Sysctls): a value outside a range
 * here is refused before anything is sent.
 */
import { z } from 'zod';
import { globError } from './glob';

export const PROFILE_SCHEMA_VERSION = 1;

/** IFNAMSIZ (uapi: linux/if.h) is 16 bytes with the terminating NUL: names are 1..15 characters. */
const ifnameRe = /^[A-Za-z0-9_.:@-]{1,15}$/;
/** A glob may be longer than the names it matches: classes take room (`enp[0-9]s[0-9]*`). */
export const GLOB_MAX_CHARS = 32;
const globCharsRe = /^[A-Za-z0-9_.:@*?[\]-]+$/;
/** MTU entries a config may hold: one per interface, far more than a host configures by hand. */
export const MAX_MTU_ENTRIES = 1024;
/** Rules an endpointPolicy may hold. */
export const MAX_POLICY_RULES = 32;
/**
 * net.ipv4.tcp_rmem / tcp_wmem below this (one page) are accepted by the kernel but leave TCP
 * sockets, MPTCP subflows included, with next to no buffer: 4096 is the kernel's own minimum
 * default for both (Documentation/networking/ip-sysctl.rst, tcp_rmem and tcp_wmem).
 */
export const TCP_BUFFER_FLOOR_BYTES = 4096;

const ipv4Re = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The four octets of a dotted-quad IPv4 address, or null. */
function ipv4Octets(text: string): number[] | null {
  return ipv4Re.test(text) ? text.split('.').map(Number) : null;
}

/**
 * The eight 16-bit groups of an IPv6 address in RFC 4291 §2.2 text form (`::` once at most, an
 * IPv4 dotted quad in the last 32 bits allowed), or null.
 */
export function ipv6Groups(text: string): number[] | null {
  if (text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string, last: boolean): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const words = part.split(':');
    for (const [i, w] of words.entries()) {
      if (last && i === words.length - 1 && w.includes('.')) {
        const q = ipv4Octets(w);
        if (!q) return null;
        out.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(w)) out.push(parseInt(w, 16));
      else return null;
    }
    return out;
  };
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/**
 * One text per address, so that `2001:DB8::1` and `2001:db8:0::1` compare equal: IPv4 as given,
 * IPv6 as its eight groups in lowercase hex. Null when the text is not an address.
 */
export function addressKey(text: string): string | null {
  if (ipv4Octets(text)) return text;
  const g = ipv6Groups(text);
  return g ? g.map((x) => x.toString(16)).join(':') : null;
}

/**
 * Why `address` can never be an endpoint's (a local unicast address), or null. The kernel accepts
 * all of these as endpoints without a word.
 */
export function endpointAddressProblem(address: string): string | null {
  const q = ipv4Octets(address);
  if (q) {
    if (q.every((o) => o === 0))
      return `${address} is the unspecified address, never a host's own (RFC 1122 §3.2.1.3)`;
    if (q.every((o) => o === 255))
      return `${address} is the limited broadcast address, never a host's own (RFC 1122 §3.2.1.3)`;
    if (q[0]! >= 224 && q[0]! <= 239)
      return `${address} is a multicast address (224.0.0.0/4, RFC 5771): TCP cannot use it`;
    return null;
  }
  const g = ipv6Groups(address);
  if (!g) return null; // not an address at all: the address schema says so
  if (g.every((x) => x === 0))
    return `${address} is the unspecified address, never a host's own (RFC 4291 §2.5.2)`;
  if (g[0]! >>> 8 === 0xff)
    return `${address} is a multicast address (ff00::/8, RFC 4291 §2.7): TCP cannot use it`;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const v4 = `${g[6]! >>> 8}.${g[6]! & 0xff}.${g[7]! >>> 8}.${g[7]! & 0xff}`;
    return `${address} is an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2): give it as the IPv4 address ${v4}`;
  }
  return null;
}

export const Ipv4Schema = z.string().regex(ipv4Re, 'must be an IPv4 address');
export const Ipv6Schema = z
  .string()
  .regex(/^[0-9a-fA-F:.]{2,45}$/, 'must be an IPv6 address')
  .refine((s) => ipv6Groups(s) !== null, 'must be an IPv6 address');
export const IpAddressSchema = z.union([Ipv4Schema, Ipv6Schema]);
/** An address an endpoint may have: an IP address that can be a host's own unicast address. */
const EndpointAddressSchema = IpAddressSchema.superRefine((a, ctx) => {
  const problem = endpointAddressProblem(a);
  if (problem) ctx.addIssue({ code: 'custom', message: `cannot be an endpoint: ${problem}` });
});

/** Why `glob` is not an interface name or glob the policy accepts, or null. */
/** Why `glob` cannot be an endpointPolicy match (characters, length, shared/glob.ts syntax), or null. */
export function globProblem(glob: string): string | null {
  if (glob.length < 1 || glob.length > GLOB_MAX_CHARS)
    return `must be an interface name or glob of 1 to ${GLOB_MAX_CHARS} characters`;
  if (!globCharsRe.test(glob)) return 'must be an interface name or glob';
  const e = globError(glob);
  return e === null ? null : `must be an interface name or glob: ${e}`;
}

/** An interface name this config can hold as a key: `__proto__` is not one (see MtuSchema). */
export function isConfigurableIfname(name: string): boolean {
  return ifnameRe.test(name) && name !== '__proto__';
}

/** Endpoint flags a user may set (implicit is the kernel's own; docs/kernel-interfaces.md, Limits and endpoints). */
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
    address: EndpointAddressSchema,
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
    /** Interface name or glob (`wlan*`, `eth[01]`; shared/glob.ts). */
    match: z.string().superRefine((g, ctx) => {
      const problem = globProblem(g);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    flags: EndpointFlagsInputSchema,
    port: z.number().int().min(1).max(65535).nullable().optional(),
    families: z
      .array(z.enum(['inet', 'inet6']))
      .min(1)
      .max(2, 'lists inet and inet6 at most once each')
      .refine((f) => new Set(f).size === f.length, 'lists inet and inet6 at most once each')
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

/**
 * MTU per interface name, a JSON object. Bounded before zod walks it (a record of 800,000 keys took
 * seconds and hundreds of MB), and `__proto__` is refused: an own `__proto__` key (JSON.parse makes
 * one) is dropped when a JavaScript object is rebuilt from the keys, so its MTU would vanish.
 */
const MtuSchema = z
  .custom<Record<string, number>>()
  .superRefine((v, ctx) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return; // the record says so
    const n = Object.keys(v).length;
    if (n > MAX_MTU_ENTRIES) {
      ctx.addIssue({
        code: 'custom',
        message: `holds at most ${MAX_MTU_ENTRIES} interfaces (got ${n})`,
      });
    }
    if (Object.hasOwn(v, '__proto__')) {
      ctx.addIssue({
        code: 'custom',
        path: ['__proto__'],
        message:
          'an interface named "__proto__" cannot be configured: JavaScript objects treat that key as their prototype',
      });
    }
  })
  .pipe(
    z.record(z.string().regex(ifnameRe, 'must be an interface name'), z.number().int().min(68).max(65535)),
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

/**
 * Source routing (docs/configuration.md, "Source routing"). The tables MPTCP Studio creates its
 * source routes in, and the marker on everything it creates: rules with priority = table in this
 * range and FRA_PROTOCOL STUDIO_RTPROT (uapi: linux/fib_rules.h), routes in these tables with
 * rtm_protocol STUDIO_RTPROT (uapi: linux/rtnetlink.h; 77 is not among the RTPROT_* it assigns).
 * Only rules and routes with the marker are ever changed or deleted.
 */
export const SOURCE_TABLE_MIN = 10000;
export const SOURCE_TABLE_MAX = 10999;
export const STUDIO_RTPROT = 77;
/** Source rules a config may hold: one per local address, far more than a host has. */
export const MAX_SOURCE_RULES = 64;

export const SourceRuleSchema = z
  .object({
    /** A local address: `ip rule add from ADDR lookup T`. */
    address: EndpointAddressSchema,
    /** The interface its traffic leaves by (`dev IF` of the routes in table T). */
    ifname: z.string().regex(ifnameRe, 'must be an interface name'),
    /** Omitted: the plan picks one that is free. */
    table: z
      .number()
      .int()
      .min(SOURCE_TABLE_MIN, `must be in ${SOURCE_TABLE_MIN}..${SOURCE_TABLE_MAX} (MPTCP Studio's tables)`)
      .max(SOURCE_TABLE_MAX, `must be in ${SOURCE_TABLE_MIN}..${SOURCE_TABLE_MAX} (MPTCP Studio's tables)`)
      .optional(),
    /** Next hop on ifname; omitted: the main table's default gateway via ifname, if there is one. */
    gateway: IpAddressSchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.gateway !== undefined && r.gateway.includes(':') !== r.address.includes(':'))
      ctx.addIssue({ code: 'custom', path: ['gateway'], message: 'must be of the same family as address' });
  });
export type SourceRule = z.infer<typeof SourceRuleSchema>;

/** Per-interface source rules, expanded against the live addresses like endpointPolicy. */
export const SourcePolicySchema = z
  .object({
    match: z.string().superRefine((g, ctx) => {
      const problem = globProblem(g);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    families: z
      .array(z.enum(['inet', 'inet6']))
      .min(1)
      .max(2, 'lists inet and inet6 at most once each')
      .refine((f) => new Set(f).size === f.length, 'lists inet and inet6 at most once each')
      .default(['inet', 'inet6']),
  })
  .strict();
export type SourcePolicy = z.infer<typeof SourcePolicySchema>;

/**
 * net.ipv4.conf.<IF>.rp_filter by interface name or glob: 0 off, 1 strict, 2 loose (RFC 3704,
 * Documentation/networking/ip-sysctl.rst). `all` and `default` are refused: they are global.
 */
const RpFilterSchema = z
  .custom<Record<string, number>>()
  .superRefine((v, ctx) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return; // the record says so
    const keys = Object.keys(v);
    if (keys.length > MAX_MTU_ENTRIES)
      ctx.addIssue({
        code: 'custom',
        message: `holds at most ${MAX_MTU_ENTRIES} interfaces (got ${keys.length})`,
      });
    for (const k of keys) {
      if (k === 'all' || k === 'default' || k === '__proto__')
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message:
            k === '__proto__'
              ? 'an interface named "__proto__" cannot be configured'
              : `net.ipv4.conf.${k}.rp_filter is global: MPTCP Studio sets rp_filter per interface only`,
        });
      else {
        const problem = globProblem(k);
        if (problem) ctx.addIssue({ code: 'custom', path: [k], message: problem });
      }
    }
  })
  .pipe(z.record(z.string(), z.union([z.literal(0), z.literal(1), z.literal(2)])));

export const RoutingConfigSchema = z
  .object({
    /** The exact set of source rules MPTCP Studio owns (replaces them; [] removes them all). */
    sourceRules: z.array(SourceRuleSchema).max(MAX_SOURCE_RULES, `holds at most ${MAX_SOURCE_RULES} rules`),
    /** Alternative to sourceRules: a source rule for every global address of matching interfaces. */
    sourcePolicy: z
      .array(SourcePolicySchema)
      .max(MAX_POLICY_RULES, `holds at most ${MAX_POLICY_RULES} rules`),
    rpFilter: RpFilterSchema,
  })
  .partial()
  .strict()
  .superRefine((r, ctx) => {
    if (r.sourceRules && r.sourcePolicy)
      ctx.addIssue({
        code: 'custom',
        path: ['sourcePolicy'],
        message: 'give either sourceRules or sourcePolicy, not both',
      });
    const addrs = new Set<string>();
    const tables = new Set<number>();
    for (const [i, rule] of (r.sourceRules ?? []).entries()) {
      const key = addressKey(rule.address) ?? rule.address;
      if (addrs.has(key))
        ctx.addIssue({
          code: 'custom',
          path: ['sourceRules', i, 'address'],
          message: `duplicate source rule for ${rule.address}`,
        });
      addrs.add(key);
      if (rule.table !== undefined) {
        if (tables.has(rule.table))
          ctx.addIssue({
            code: 'custom',
            path: ['sourceRules', i, 'table'],
            message: `table ${rule.table} is given to two source rules`,
          });
        tables.add(rule.table);
      }
    }
  });
export type RoutingConfig = z.infer<typeof RoutingConfigSchema>;

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
    endpointPolicy: z
      .array(EndpointPolicySchema)
      .max(MAX_POLICY_RULES, `holds at most ${MAX_POLICY_RULES} rules`),
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
    mtu: MtuSchema,
    /** Source-based routing and rp_filter (docs/configuration.md, "Source routing"). */
    routing: RoutingConfigSchema,
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
