/**
 * uapi: linux/fib_rules.h. Policy-routing rules (`ip rule`): struct fib_rule_hdr and its FRA_*
 * attributes, read by an RTM_GETRULE dump (rtnetlink.ts).
 */

/** sizeof(struct fib_rule_hdr { u8 family, dst_len, src_len, tos, table, res1, res2, action; u32 flags; }). */
export const FIB_RULE_HDR_LEN = 12;

/** enum FRA_*. */
export const FRA_DST = 1;
export const FRA_SRC = 2;
export const FRA_IIFNAME = 3;
export const FRA_PRIORITY = 6;
export const FRA_FWMARK = 10;
export const FRA_TABLE = 15;
export const FRA_OIFNAME = 17;
/** Who created the rule (RTPROT_* values, uapi: linux/rtnetlink.h); kernels from 4.17. */
export const FRA_PROTOCOL = 21;

/** fib_rule_hdr.action: FR_ACT_TO_TBL looks the route up in a table. */
export const FR_ACT_TO_TBL = 1;
