/**
 * The live policy-routing state a plan needs for source routing (docs/configuration.md, "Source
 * routing"): the rules (RTM_GETRULE dump, uapi: linux/fib_rules.h), the routes of MPTCP Studio's
 * tables and every table's default routes (RTM_GETROUTE dump, uapi: linux/rtnetlink.h), and
 * rp_filter per interface (/proc/sys/net/ipv4/conf/<IF>/rp_filter).
 */
import { z } from 'zod';

const FamilySchema = z.enum(['inet', 'inet6']);

/** One fib rule as the kernel reports it (`ip rule show`). */
export const RouteRuleSchema = z.object({
  family: FamilySchema,
  /** FRA_PRIORITY (0 when absent: the local-table rule). */
  priority: z.number().int().min(0),
  /** FRA_SRC with fib_rule_hdr.src_len; null: from all. */
  src: z.string().nullable(),
  srcLen: z.number().int().min(0).max(128),
  dst: z.string().nullable(),
  dstLen: z.number().int().min(0).max(128),
  /** FRA_TABLE, else fib_rule_hdr.table. */
  table: z.number().int().min(0),
  /** fib_rule_hdr.action: FR_ACT_TO_TBL 1, FR_ACT_GOTO 2, FR_ACT_NOP 3, FR_ACT_BLACKHOLE 6, ... */
  action: z.number().int().min(0),
  /** FRA_PROTOCOL (RTPROT_*); 0 when the kernel sent none. */
  protocol: z.number().int().min(0),
  iifname: z.string().nullable(),
  oifname: z.string().nullable(),
  fwmark: z.number().int().nullable(),
});
export type RouteRule = z.infer<typeof RouteRuleSchema>;

/** One route (`ip route show table T`). */
export const RouteEntrySchema = z.object({
  family: FamilySchema,
  table: z.number().int().min(0),
  /** RTA_DST; null with dstLen 0: the default route. */
  dst: z.string().nullable(),
  dstLen: z.number().int().min(0).max(128),
  gateway: z.string().nullable(),
  /** RTA_OIF (0 or absent: null) and its name when known. */
  ifindex: z.number().int().nullable(),
  ifname: z.string().nullable(),
  prefsrc: z.string().nullable(),
  /** rtm_protocol (RTPROT_*). */
  protocol: z.number().int().min(0),
  /** rtm_scope (RT_SCOPE_*): 0 universe, 253 link, 254 host. */
  scope: z.number().int().min(0).max(255),
  /** rtm_type (RTN_*): 1 unicast. */
  type: z.number().int().min(0),
  /** RTA_PRIORITY (the metric); null when absent. */
  metric: z.number().int().nullable(),
});
export type RouteEntry = z.infer<typeof RouteEntrySchema>;

export const RoutingStateSchema = z.object({
  rules: z.array(RouteRuleSchema),
  /** Routes in MPTCP Studio's tables (config.ts SOURCE_TABLE_MIN..MAX) and default routes of every table. */
  routes: z.array(RouteEntrySchema),
  rpFilter: z.object({
    /** net.ipv4.conf.all.rp_filter: the kernel uses max(all, IF) (ip-sysctl.rst). */
    all: z.number().int().nullable(),
    /** net.ipv4.conf.<IF>.rp_filter by interface name. */
    byIfname: z.record(z.string(), z.number().int()),
    /** Whether this process may write them (net.ipv4.conf is per namespace, needs CAP_NET_ADMIN). */
    writable: z.boolean(),
  }),
});
export type RoutingState = z.infer<typeof RoutingStateSchema>;

/** RT_TABLE_MAIN (uapi: linux/rtnetlink.h). */
export const RT_TABLE_MAIN = 254;
/** FR_ACT_TO_TBL (uapi: linux/fib_rules.h): `lookup T`. */
export const FR_ACT_TO_TBL = 1;
