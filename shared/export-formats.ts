/**
 * A configuration as a file someone can take elsewhere: a profile (json), a one-shot shell script
 * (sh) or a persistent setup (sysctl.d + a boot-time script + a systemd unit). Pure.
 *
 * The scripts are run as root on another machine, so nothing reaches them unchecked: every value
 * that is interpolated passes a strict pattern here (even though it came from a validated config:
 * a config can be built in code without zod), and a value that does not is refused with an Error
 * rather than quoted. The only free text in a script is the profile name and the timestamp, both
 * inside a comment with everything but a small set of plain characters replaced.
 *
 * Target: Linux 6.18 with iproute2 6.1 syntax (`ip mptcp endpoint add ADDR [port P] [dev IF] [id N]
 * FLAGS`). iproute2 6.1 has no keyword for the laminar flag (iproute2's ip/ipmptcp.c). We emit the newer
 * keyword, and the script checks before it changes anything that the installed `ip` knows it and
 * stops otherwise: silently adding the endpoint without the flag would not reproduce the config,
 * and failing half-way (after the removals) would leave the host with fewer endpoints than before.
 *
 * Endpoints follow the plan's fewest-disruption rules (shared/plan.ts planConfig), at run time
 * against the host's endpoints: one that already has the address, port, device, id and
 * signal/subflow/laminar flags is kept, its backup and fullmesh flags changed in place (`ip mptcp
 * endpoint change`, live subflows stay); the others are removed; then the missing ones are added.
 * Never a flush: that closes every subflow of every connection (docs/configuration.md).
 */
import {
  describeIssues,
  ipv6Groups,
  MptcpConfigSchema,
  PROFILE_SCHEMA_VERSION,
  ProfileSchema,
  SOURCE_TABLE_MAX,
  SOURCE_TABLE_MIN,
  type EndpointFlagsInput,
  type MptcpConfig,
} from './config';
import type { ExportFormat } from './config-api';
import { formatIpv6 } from './packet/addr';
import { shellForStep, sysctlKeys } from './plan';
import { rpFilterSysctl } from './plan-routing';
import { CcIdSchema } from './cc';

/** The profile's default CC when it is one of the coupled BPF ones (it must be registered first). */
function coupledCc(c: MptcpConfig): string | null {
  const id = CcIdSchema.safeParse(c.congestionControl);
  return id.success ? id.data : null;
}

export interface ExportMeta {
  /** The profile name (json) and, sanitised, the name shown in script comments. */
  name: string;
  /** ISO 8601 time of the export; shown in comments only. */
  generatedAt: string;
  /** Kept in the json profile (defaults to a line saying when it was exported). */
  description?: string;
}

export interface ExportFile {
  filename: string;
  text: string;
}

export const PERSISTENT_FILENAME = 'mptcp-studio-persistent.txt';
export const SYSCTL_D_PATH = '/etc/sysctl.d/90-mptcp-studio.conf';
export const ENDPOINTS_SCRIPT_PATH = '/usr/local/sbin/mptcp-studio-endpoints.sh';
export const ENDPOINTS_UNIT_NAME = 'mptcp-studio-endpoints.service';
export const ENDPOINTS_UNIT_PATH = `/etc/systemd/system/${ENDPOINTS_UNIT_NAME}`;

const sysctlNames = sysctlKeys;

const flagOrder = ['signal', 'subflow', 'backup', 'fullmesh', 'laminar'] as const;

/**
 * The patterns a value must match to be written into a script unquoted. None of them admits a
 * space, quote, `$`, backtick, `;`, `&`, `|`, `<`, `>`, `\`, `(`, `)`, `#`, `=` or a newline.
 * `glob` admits `*?[]`, so globs are the one thing written inside single quotes (they cannot
 * contain one).
 */
export const shellPatterns = {
  ipv4: /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/,
  ipv6: /^(?=.*:)[0-9a-fA-F:.]{2,45}$/,
  ifname: /^[A-Za-z0-9_.:@-]{1,15}$/,
  glob: /^[A-Za-z0-9_.:@*?[\]-]{1,32}$/,
  kernelName: /^[A-Za-z0-9_-]{1,32}$/,
  sysctlName: /^net\.(mptcp|ipv4|core)\.[a-z0-9_]{1,64}$/,
} as const;

/** Refuse a value that does not match its pattern; returns it typed as safe text otherwise. */
export function shellToken(value: unknown, kind: keyof typeof shellPatterns, what: string): string {
  if (typeof value !== 'string' || !shellPatterns[kind].test(value)) {
    throw new Error(`refusing to export: ${what} ${JSON.stringify(value)} is not a valid ${kind}`);
  }
  return value;
}

function int(value: unknown, min: number, max: number, what: string): string {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(
      `refusing to export: ${what} ${JSON.stringify(value)} is not an integer in ${min}..${max}`,
    );
  }
  return String(value);
}

function bool(value: unknown, what: string): string {
  if (typeof value !== 'boolean') throw new Error(`refusing to export: ${what} is not true or false`);
  return value ? '1' : '0';
}

function address(value: unknown, what: string): string {
  return typeof value === 'string' && value.includes(':')
    ? shellToken(value, 'ipv6', what)
    : shellToken(value, 'ipv4', what);
}

function flagWords(f: EndpointFlagsInput, what: string): string[] {
  return flagOrder.filter((k) => bool(f[k], `${what}.flags.${k}`) === '1');
}

/** Free text for a comment: plain characters only, so it cannot end the comment or smuggle code. */
export function commentText(s: string, max = 80): string {
  return s.replace(/[^A-Za-z0-9 _.,:+@%=-]/g, '_').slice(0, max);
}

function fileSlug(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 60);
  return s || 'mptcp-profile';
}

const MAX_INT = 2 ** 31 - 1;

/** Every sysctl the config sets, as [name, value], in the order a plan applies them. */
function sysctlEntries(c: MptcpConfig): [string, string][] {
  const out: [string, string][] = [];
  const put = (name: string, value: string): void => {
    out.push([shellToken(name, 'sysctlName', 'sysctl name'), value]);
  };
  if (c.enabled !== undefined) put('net.mptcp.enabled', bool(c.enabled, 'enabled'));
  // net.mptcp.path_manager exists since Linux 6.15 (older kernels only have pm_type).
  if (c.pathManager !== undefined)
    put('net.mptcp.path_manager', shellToken(c.pathManager, 'kernelName', 'pathManager'));
  if (c.scheduler !== undefined)
    put('net.mptcp.scheduler', shellToken(c.scheduler, 'kernelName', 'scheduler'));
  for (const [key, value] of Object.entries(c.sysctls ?? {})) {
    if (!Object.prototype.hasOwnProperty.call(sysctlNames, key)) {
      throw new Error(`refusing to export: unknown sysctl field sysctls.${key}`);
    }
    const name = sysctlNames[key as keyof typeof sysctlNames];
    if (value === undefined) continue;
    put(
      name,
      typeof value === 'boolean'
        ? bool(value, `sysctls.${key}`)
        : int(value, 0, 0xffffffff, `sysctls.${key}`),
    );
  }
  if (c.congestionControl !== undefined)
    put(
      'net.ipv4.tcp_congestion_control',
      shellToken(c.congestionControl, 'kernelName', 'congestionControl'),
    );
  const b = c.buffers ?? {};
  for (const [key, name] of [
    ['tcpRmem', 'net.ipv4.tcp_rmem'],
    ['tcpWmem', 'net.ipv4.tcp_wmem'],
  ] as const) {
    const t = b[key];
    if (!t) continue;
    const what = `buffers.${key}`;
    // Space-separated: what /proc and sysctl.d both accept (the kernel prints tabs).
    put(
      name,
      [
        int(t.minBytes, 1, MAX_INT, `${what}.minBytes`),
        int(t.defaultBytes, 1, MAX_INT, `${what}.defaultBytes`),
        int(t.maxBytes, 1, MAX_INT, `${what}.maxBytes`),
      ].join(' '),
    );
  }
  if (b.rmemMaxBytes !== undefined)
    put('net.core.rmem_max', int(b.rmemMaxBytes, 1, MAX_INT, 'buffers.rmemMaxBytes'));
  if (b.wmemMaxBytes !== undefined)
    put('net.core.wmem_max', int(b.wmemMaxBytes, 1, MAX_INT, 'buffers.wmemMaxBytes'));
  return out;
}

/**
 * Expands one endpointPolicy rule when the script runs, against that host's addresses, the way
 * shared/plan.ts expandPolicy does: global-scope addresses of matching interfaces but lo, an address
 * already taken by an earlier rule skipped, at most 8 endpoints. (`ip addr show up` filters on the
 * administrative state; the app also requires the operational state to be up.) A here-document,
 * not a pipe, so the loop runs in this shell and `set -e` stops the script if an add fails.
 */
const policyFunction = [
  'mptcp_studio_seen=" "',
  'mptcp_studio_count=0',
  '# Usage: mptcp_studio_policy GLOB "FAMILIES" PORT|- FLAGS...',
  'mptcp_studio_policy() {',
  '\tmptcp_studio_glob=$1',
  '\tmptcp_studio_families=$2',
  '\tmptcp_studio_port=$3',
  '\tshift 3',
  '\tmptcp_studio_addrs=$(ip -o addr show up scope global)',
  '\twhile read -r _ dev family addr _; do',
  '\t\tcase $dev in lo) continue ;; $mptcp_studio_glob) ;; *) continue ;; esac',
  '\t\tcase " $mptcp_studio_families " in *" $family "*) ;; *) continue ;; esac',
  '\t\taddr=${addr%%/*}',
  '\t\tcase $mptcp_studio_seen in *" $addr "*) continue ;; esac',
  '\t\tmptcp_studio_seen="$mptcp_studio_seen$addr "',
  '\t\tif [ "$mptcp_studio_count" -ge 8 ]; then',
  '\t\t\techo "mptcp-studio: the in-kernel path manager holds 8 endpoints; $addr ($dev) left out" >&2',
  '\t\t\tcontinue',
  '\t\tfi',
  '\t\tmptcp_studio_count=$((mptcp_studio_count + 1))',
  '\t\tmptcp_studio_endpoint "$addr" "$mptcp_studio_port" - "$dev" "$@"',
  '\tdone <<EOF',
  '$mptcp_studio_addrs',
  'EOF',
  '}',
];

/**
 * Match wanted endpoints against the host's (see the file comment). `ip mptcp endpoint show`
 * prints `ADDRESS [port P] id N FLAGS... [dev IF]`; iproute2 6.1 prints the laminar flag (0x20) as
 * `rawflags 0x20`. Words from `ip` are split but never globbed (set -f). Here-documents, not pipes,
 * so the loops run in this shell and `set -e` stops the script if a command fails.
 */
const endpointFunctions = [
  'set -f',
  'mptcp_studio_now=$(ip mptcp endpoint show)',
  'mptcp_studio_keep=" "',
  'mptcp_studio_adds=""',
  '# One endpoint line into ep_addr ep_port ep_id ep_dev ep_fixed (signal subflow laminar as 0/1),',
  '# ep_inplace (backup fullmesh), ep_implicit.',
  'mptcp_studio_parse() {',
  '\tep_addr=$1',
  '\tshift',
  '\tep_port=- ep_id=- ep_dev=- ep_implicit= s=0 u=0 l=0 b=nobackup m=nofullmesh',
  '\twhile [ $# -gt 0 ]; do',
  '\t\tcase $1 in',
  '\t\tport) ep_port=$2 ;;',
  '\t\tid) ep_id=$2 ;;',
  '\t\tdev) ep_dev=$2 ;;',
  '\t\trawflags) [ $(($2 & 32)) -eq 0 ] || l=1 ;;',
  '\t\tsignal) s=1 ;;',
  '\t\tsubflow) u=1 ;;',
  '\t\tlaminar) l=1 ;;',
  '\t\tbackup) b=backup ;;',
  '\t\tfullmesh) m=fullmesh ;;',
  '\t\timplicit) ep_implicit=1 ;;',
  '\t\tesac',
  '\t\tcase $1 in port | id | dev | rawflags) [ $# -lt 2 ] || shift ;; esac',
  '\t\tshift',
  '\tdone',
  '\tep_fixed="$s$u$l" ep_inplace="$b $m"',
  '}',
  '# Usage: mptcp_studio_endpoint ADDRESS PORT|- ID|- DEV|- FLAGS... (- = any)',
  'mptcp_studio_endpoint() {',
  '\tw_addr=$1 w_port=$2 w_id=$3 w_dev=$4',
  '\tshift 4',
  '\tw_flags="$*"',
  '\tmptcp_studio_parse "$w_addr" "$@"',
  '\tw_fixed=$ep_fixed w_inplace=$ep_inplace',
  '\twhile read -r line; do',
  '\t\t[ -n "$line" ] || continue',
  '\t\tmptcp_studio_parse $line',
  '\t\t[ -z "$ep_implicit" ] || continue',
  '\t\tcase $mptcp_studio_keep in *" $ep_id "*) continue ;; esac',
  '\t\t[ "$ep_addr" = "$w_addr" ] && [ "$ep_port" = "$w_port" ] && [ "$ep_fixed" = "$w_fixed" ] || continue',
  '\t\t[ "$w_id" = - ] || [ "$ep_id" = "$w_id" ] || continue',
  '\t\t[ "$w_dev" = - ] || [ "$ep_dev" = "$w_dev" ] || continue',
  '\t\tmptcp_studio_keep="$mptcp_studio_keep$ep_id "',
  '\t\t# Both flags named: `change` sends only those it is given, and the kernel sets both.',
  '\t\t[ "$ep_inplace" = "$w_inplace" ] || ip mptcp endpoint change id "$ep_id" $w_inplace',
  '\t\treturn 0',
  '\tdone <<EOF',
  '$mptcp_studio_now',
  'EOF',
  '\tw_add=$w_addr',
  '\t[ "$w_port" = - ] || w_add="$w_add port $w_port"',
  '\t[ "$w_dev" = - ] || w_add="$w_add dev $w_dev"',
  '\t[ "$w_id" = - ] || w_add="$w_add id $w_id"',
  '\tmptcp_studio_adds="$mptcp_studio_adds$w_add${w_flags:+ $w_flags}',
  '"',
  '}',
  '# Remove the endpoints no wanted one kept, then add the missing ones.',
  'mptcp_studio_finish() {',
  '\twhile read -r line; do',
  '\t\t[ -n "$line" ] || continue',
  '\t\tmptcp_studio_parse $line',
  '\t\t[ -z "$ep_implicit" ] || continue',
  '\t\tcase $mptcp_studio_keep in *" $ep_id "*) continue ;; esac',
  '\t\tip mptcp endpoint delete id "$ep_id"',
  '\tdone <<EOF',
  '$mptcp_studio_now',
  'EOF',
  '\twhile read -r line; do',
  '\t\t[ -z "$line" ] || ip mptcp endpoint add $line',
  '\tdone <<EOF',
  '$mptcp_studio_adds',
  'EOF',
  '}',
];

/**
 * An IPv6 address as `ip` prints it (inet_ntop(3), RFC 5952: lowercase, the longest run of two or
 * more zero groups as `::`, an IPv4-compatible or -mapped tail as a dotted quad), so that the
 * script compares it with `ip mptcp endpoint show` as text.
 */
export function ipv6AsPrinted(text: string): string {
  const g = ipv6Groups(text);
  if (!g) return text;
  const bytes = new Uint8Array(16);
  g.forEach((x, i) => {
    bytes[2 * i] = x >>> 8;
    bytes[2 * i + 1] = x & 0xff;
  });
  return formatIpv6(bytes);
}

function usesLaminar(c: MptcpConfig): boolean {
  return [...(c.endpoints ?? []), ...(c.endpointPolicy ?? [])].some((e) => e.flags.laminar);
}

/** Checks that run before anything changes, so a missing tool stops the script with nothing done. */
function preflightLines(c: MptcpConfig, needsIp: boolean): string[] {
  const lines: string[] = [];
  if (needsIp) {
    lines.push(
      'command -v ip >/dev/null 2>&1 || { echo "mptcp-studio: ip (iproute2) is not installed" >&2; exit 1; }',
    );
  }
  if (usesLaminar(c)) {
    lines.push(
      '# The laminar endpoint flag (Linux 6.18) has no keyword in older iproute2 (6.1 rejects it as an',
      '# unknown argument). Stop before changing anything rather than add the endpoints without it.',
      'if ! ip mptcp help 2>&1 | grep -qw laminar; then',
      '\techo "mptcp-studio: this profile uses the laminar endpoint flag, which this iproute2 cannot set; install a newer iproute2" >&2',
      '\texit 1',
      'fi',
    );
  }
  return lines;
}

/**
 * Source routing when the script runs (shared/plan-routing.ts): for each wanted address, the
 * connected route and the default route in its table (`ip route replace`: idempotent, live
 * subflows stay), then the rule unless it is there; finally MPTCP Studio's own rules (priority =
 * table in 10000..10999, protocol 77) that nobody asked for go, with their routes. Rules and routes
 * without the marker are never touched. Here-documents, not pipes, so `set -e` holds.
 */
const sourceFunctions = [
  'mptcp_studio_want=" "',
  '# An IPv4 address with its host bits cleared: the kernel refuses a route to 10.1.2.3/24.',
  'mptcp_studio_net4() {',
  '\tIFS=. read -r o1 o2 o3 o4 <<EOF',
  '$1',
  'EOF',
  '\tn=$(( ((o1 << 24) | (o2 << 16) | (o3 << 8) | o4) & ((0xffffffff << (32 - $2)) & 0xffffffff) ))',
  '\techo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))"',
  '}',
  '# Is table/priority T used by any rule or route? (then a rule without a table skips it)',
  'mptcp_studio_used() {',
  '\tcase $mptcp_studio_want in *" $1 "*) return 0 ;; esac',
  '\tip -4 rule show | grep -Eq "^$1:|lookup $1( |$)" && return 0',
  '\tip -6 rule show | grep -Eq "^$1:|lookup $1( |$)" && return 0',
  '\t[ -n "$(ip -4 route show table "$1" 2>/dev/null)$(ip -6 route show table "$1" 2>/dev/null)" ]',
  '}',
  '# Does table T hold a route, or does a rule look it up, that MPTCP Studio did not create? Then',
  '# routes added to it would change where that traffic goes (`ip route replace` would even replace one).',
  'mptcp_studio_foreign() {',
  '\tip -4 route show table "$1" 2>/dev/null | grep -Evq " proto 77( |$)" && return 0',
  '\tip -6 route show table "$1" 2>/dev/null | grep -Evq " proto 77( |$)" && return 0',
  '\tfor s_ff in -4 -6; do',
  '\t\tip $s_ff rule show | grep -E "lookup $1( |$)" | grep -Evq "^$1:[[:space:]]+from [^ ]+ lookup $1 proto 77 *$" && return 0',
  '\tdone',
  '\treturn 1',
  '}',
  "# Usage: mptcp_studio_source ADDRESS IFNAME TABLE|- GATEWAY|- (- = choose / the main table's)",
  'mptcp_studio_source() {',
  '\ts_f=-4',
  '\tcase $1 in *:*) s_f=-6 ;; esac',
  '\ts_len=',
  '\twhile read -r _ _ _ s_a _; do',
  '\t\t[ "${s_a%/*}" != "$1" ] || s_len=${s_a#*/}',
  '\tdone <<EOF',
  '$(ip -o $s_f addr show dev "$2")',
  'EOF',
  '\tif [ -z "$s_len" ]; then',
  '\t\techo "mptcp-studio: $2 does not have the address $1: no source rule for it" >&2',
  '\t\texit 1',
  '\tfi',
  '\ts_t=$3',
  '\tif [ "$s_t" = - ]; then',
  '\t\ts_t=$(ip $s_f rule show | while read -r p f a l t x n _; do',
  '\t\t\t[ "$f $a $l $x $n" = "from $1 lookup proto 77" ] && [ "${p%:}" = "$t" ] && echo "$t" && break',
  '\t\tdone || :)',
  '\t\tif [ -z "$s_t" ]; then',
  '\t\t\ts_t=10000',
  '\t\t\twhile mptcp_studio_used "$s_t"; do s_t=$((s_t + 1)); done',
  '\t\t\t[ "$s_t" -le 10999 ] || { echo "mptcp-studio: no table is free in 10000..10999" >&2; exit 1; }',
  '\t\tfi',
  '\tfi',
  '\tif mptcp_studio_foreign "$s_t"; then',
  '\t\techo "mptcp-studio: table $s_t holds a route or is looked up by a rule MPTCP Studio did not create: give another table" >&2',
  '\t\texit 1',
  '\tfi',
  '\ts_gw=$4',
  '\t[ "$s_gw" != - ] || s_gw=$(ip $s_f route show table main default dev "$2" | while read -r d v g _; do',
  '\t\t[ "$d $v" = "default via" ] && echo "$g" && break',
  '\tdone || :)',
  '\tif [ $s_f = -4 ]; then',
  '\t\t[ "$s_len" -ge 32 ] || ip -4 route replace "$(mptcp_studio_net4 "$1" "$s_len")/$s_len" dev "$2" src "$1" scope link table "$s_t" proto 77',
  '\telse',
  '\t\t# IPv6 takes the address with its prefix length and keeps the network.',
  '\t\t[ "$s_len" -ge 128 ] || ip -6 route replace "$1/$s_len" dev "$2" src "$1" table "$s_t" proto 77',
  '\tfi',
  '\tif [ -n "$s_gw" ]; then',
  '\t\tip $s_f route replace default via "$s_gw" dev "$2" table "$s_t" proto 77',
  '\telse',
  '\t\techo "mptcp-studio: no default gateway through $2: table $s_t reaches only its own network" >&2',
  '\tfi',
  '\tip $s_f rule show priority "$s_t" | grep -Fq "from $1 lookup $s_t proto 77" ||',
  '\t\tip $s_f rule add from "$1" lookup "$s_t" priority "$s_t" protocol 77',
  '\tmptcp_studio_want="$mptcp_studio_want$s_t "',
  '}',
  '# Usage: mptcp_studio_source_policy GLOB "FAMILIES": a source rule per global address of matching interfaces.',
  'mptcp_studio_source_policy() {',
  '\ts_addrs=$(ip -o addr show up scope global)',
  '\twhile read -r _ dev family addr _; do',
  '\t\tcase $dev in lo) continue ;; $1) ;; *) continue ;; esac',
  '\t\tcase " $2 " in *" $family "*) ;; *) continue ;; esac',
  '\t\tmptcp_studio_source "${addr%/*}" "$dev" - -',
  '\tdone <<EOF',
  '$s_addrs',
  'EOF',
  '}',
  "# Remove MPTCP Studio's rules (and their routes) that nobody asked for.",
  'mptcp_studio_source_finish() {',
  '\tfor s_f in -4 -6; do',
  '\t\ts_rules=$(ip $s_f rule show)',
  '\t\twhile read -r p f a l t x n _; do',
  '\t\t\t[ "$f $l $x $n" = "from lookup proto 77" ] && [ "${p%:}" = "$t" ] || continue',
  '\t\t\t[ "$t" -ge 10000 ] && [ "$t" -le 10999 ] || continue',
  '\t\t\tcase $mptcp_studio_want in *" $t "*) continue ;; esac',
  '\t\t\tip $s_f rule del from "$a" lookup "$t" priority "$t" protocol 77',
  '\t\t\tip $s_f route flush table "$t" proto 77 2>/dev/null || true',
  '\t\tdone <<EOF',
  '$s_rules',
  'EOF',
  '\tdone',
  '}',
];

/** rp_filter of one interface or, for a glob, of every matching one but lo, all and default. */
function rpFilterLines(c: MptcpConfig): string[] {
  const entries = Object.entries(c.routing?.rpFilter ?? {});
  if (entries.length === 0) return [];
  const lines = [
    '',
    '# Reverse-path filter per interface (0 off, 1 strict, 2 loose; RFC 3704): strict drops a',
    '# subflow whose replies arrive on another interface than its route leaves by.',
  ];
  for (const [key, value] of entries) {
    const v = int(value, 0, 2, `routing.rpFilter.${key}`);
    if (/[*?[]/.test(key)) {
      const glob = shellToken(key, 'glob', 'routing.rpFilter interface glob');
      lines.push(
        `for f in /proc/sys/net/ipv4/conf/${glob}/rp_filter; do`,
        '\tcase $f in */conf/all/* | */conf/default/* | */conf/lo/*) continue ;; esac',
        `\t[ ! -e "$f" ] || echo ${v} >"$f"`,
        'done',
      );
    } else {
      const ifname = shellToken(key, 'ifname', 'routing.rpFilter interface');
      lines.push(shellForStep({ kind: 'sysctl', name: rpFilterSysctl(ifname), from: v, to: v }));
    }
  }
  return lines;
}

function sourceLines(c: MptcpConfig): string[] {
  const r = c.routing;
  if (!r || (!r.sourceRules && !r.sourcePolicy)) return [];
  const lines = [
    '',
    "# Source routing: each address's traffic leaves by its own interface (table T, rule priority T,",
    '# protocol 77 marks what MPTCP Studio owns; other rules and routes are left alone). The kernel',
    '# removes the routes when a link goes down: run this again after, or let systemd-networkd',
    '# ([RoutingPolicyRule] From= Table=, [Route] Table=) or NetworkManager (ipv4.routing-rules) keep them.',
    ...sourceFunctions,
  ];
  if (r.sourceRules) {
    for (const [i, rule] of r.sourceRules.entries()) {
      const what = `routing.sourceRules.${i}`;
      const addr = address(rule.address, `${what}.address`);
      const shown = addr.includes(':') ? shellToken(ipv6AsPrinted(addr), 'ipv6', `${what}.address`) : addr;
      const dev = shellToken(rule.ifname, 'ifname', `${what}.ifname`);
      const table =
        rule.table === undefined ? '-' : int(rule.table, SOURCE_TABLE_MIN, SOURCE_TABLE_MAX, `${what}.table`);
      const gw = rule.gateway === undefined ? '-' : address(rule.gateway, `${what}.gateway`);
      lines.push(`mptcp_studio_source ${shown} ${dev} ${table} ${gw}`);
    }
  } else {
    for (const [i, rule] of (r.sourcePolicy ?? []).entries()) {
      const what = `routing.sourcePolicy.${i}`;
      const glob = shellToken(rule.match, 'glob', `${what}.match`);
      const families = rule.families.map((f) => {
        if (f !== 'inet' && f !== 'inet6') throw new Error(`refusing to export: ${what}.families`);
        return f;
      });
      lines.push(`mptcp_studio_source_policy '${glob}' '${families.join(' ')}'`);
    }
  }
  lines.push('mptcp_studio_source_finish');
  return lines;
}

/** Limits, MTUs, source routing and endpoints: the part that is not sysctls and needs `ip`. */
function runtimeLines(c: MptcpConfig, rpInRuntime = true): string[] {
  const lines: string[] = [];
  if (c.limits) {
    const to = {
      subflows: Number(int(c.limits.subflows, 0, 8, 'limits.subflows')),
      addAddrAccepted: Number(int(c.limits.addAddrAccepted, 0, 8, 'limits.addAddrAccepted')),
    };
    lines.push(
      '',
      '# In-kernel path manager limits, per connection: extra subflows, and ADD_ADDRs accepted.',
      shellForStep({ kind: 'limits', from: to, to }),
    );
  }
  const mtus = Object.entries(c.mtu ?? {});
  if (mtus.length) {
    // Before the endpoints: an MTU below 1280 removes the interface's IPv6 addresses.
    lines.push('', '# MTUs. Equal MTUs on all paths avoid the MSS mismatch that slows MPTCP down.');
    for (const [name, mtu] of mtus) {
      const ifname = shellToken(name, 'ifname', 'mtu interface name');
      const n = Number(int(mtu, 68, 65535, `mtu.${ifname}`));
      lines.push(shellForStep({ kind: 'mtu', ifname, ifindex: 0, from: n, to: n }));
    }
  }
  // After the MTUs and before the endpoints, as planned: a subflow an endpoint opens finds its route.
  lines.push(...sourceLines(c));
  if (rpInRuntime) lines.push(...rpFilterLines(c));
  else {
    // The sysctl.d file holds the names; globs need the interfaces to exist, so they are set here.
    const globs = Object.fromEntries(
      Object.entries(c.routing?.rpFilter ?? {}).filter(([k]) => /[*?[]/.test(k)),
    );
    lines.push(...rpFilterLines({ routing: { rpFilter: globs } }));
  }
  const endpointsHeader = [
    '# Endpoints: the set becomes exactly these. One that is already here (address, port, device,',
    '# id, signal/subflow/laminar) is kept, with backup and fullmesh changed in place: its live',
    '# subflows stay. The others are removed, then the missing ones added. Endpoints are not tied',
    '# to interfaces: an address that appears later is not picked up by this script.',
  ];
  if (c.endpoints) {
    lines.push('', ...endpointsHeader, ...endpointFunctions);
    for (const [i, ep] of c.endpoints.entries()) {
      const what = `endpoints.${i}`;
      const addr = address(ep.address, `${what}.address`);
      const words = flagWords(ep.flags, what); // checks every flag is a boolean
      const id = ep.id === undefined ? '-' : int(ep.id, 1, 255, `${what}.id`);
      const port = ep.port == null ? '-' : int(ep.port, 1, 65535, `${what}.port`);
      const dev = ep.ifname == null ? '-' : shellToken(ep.ifname, 'ifname', `${what}.ifname`);
      // As `ip` prints it, to compare as text (a checked address stays a safe token).
      const shown = addr.includes(':') ? shellToken(ipv6AsPrinted(addr), 'ipv6', `${what}.address`) : addr;
      lines.push(['mptcp_studio_endpoint', shown, port, id, dev, ...words].join(' '));
    }
    lines.push('mptcp_studio_finish');
  } else if (c.endpointPolicy) {
    lines.push(
      '',
      "# Endpoints from per-interface rules, expanded against this host's addresses when the script",
      '# runs (first matching rule wins).',
      ...endpointsHeader,
      ...endpointFunctions,
      ...policyFunction,
    );
    for (const [i, rule] of c.endpointPolicy.entries()) {
      const what = `endpointPolicy.${i}`;
      const glob = shellToken(rule.match, 'glob', `${what}.match`);
      const families = rule.families.map((f) => {
        if (f !== 'inet' && f !== 'inet6') throw new Error(`refusing to export: ${what}.families`);
        return f;
      });
      const args = [
        rule.port == null ? '-' : int(rule.port, 1, 65535, `${what}.port`),
        ...flagWords(rule.flags, what),
      ];
      lines.push(`mptcp_studio_policy '${glob}' '${families.join(' ')}'${args.map((a) => ` ${a}`).join('')}`);
    }
    lines.push('mptcp_studio_finish');
  }
  return lines;
}

function checkedConfig(config: MptcpConfig): MptcpConfig {
  const parsed = MptcpConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new Error(
      `refusing to export an invalid config: ${describeIssues(parsed.error.issues).join('; ')}`,
    );
  }
  return parsed.data;
}

function scriptHeader(meta: ExportMeta, purpose: string[]): string[] {
  return [
    '#!/bin/sh',
    `# MPTCP Studio export of profile "${commentText(meta.name)}", generated ${commentText(meta.generatedAt, 40)}.`,
    ...purpose.map((l) => `# ${l}`),
    'set -e',
  ];
}

function shellScript(c: MptcpConfig, meta: ExportMeta): string {
  const sysctls = sysctlEntries(c);
  const runtime = runtimeLines(c);
  const lines = scriptHeader(meta, [
    'Reproduces the configuration on a Linux host (6.18; net.mptcp.path_manager needs 6.15 or newer)',
    'with the same interface names. Run it as root. Settings the profile does not mention are left',
    'as they are. Nothing here survives a reboot: export as "sysctl.d" for a persistent setup.',
  ]);
  lines.push(...preflightLines(c, runtime.length > 0));
  const coupled = coupledCc(c);
  if (coupled) {
    lines.push(
      '',
      `# ${coupled} is a coupled congestion control run as a BPF program: register it before it can`,
      '# be the default (needs bpftool and MPTCP Studio; a no-op when it is registered already).',
      `mptcp-studio cc load ${coupled}`,
    );
  }
  if (sysctls.length) {
    lines.push('', '# Sysctls.');
    for (const [name, value] of sysctls)
      lines.push(shellForStep({ kind: 'sysctl', name, from: value, to: value }));
  }
  lines.push(...runtime);
  return lines.join('\n') + '\n';
}

const begin = (path: string): string => `# ----- BEGIN ${path} -----`;
const end = (path: string): string => `# ----- END ${path} -----`;

function persistentText(c: MptcpConfig, meta: ExportMeta): string {
  const sysctls = sysctlEntries(c);
  // rp_filter of named interfaces is a sysctl (the slash form for a name with a dot, as sysctl.d(5)
  // reads it); globs are set by the boot script, once the interfaces exist.
  for (const [key, value] of Object.entries(c.routing?.rpFilter ?? {})) {
    if (/[*?[]/.test(key)) continue;
    const ifname = shellToken(key, 'ifname', 'routing.rpFilter interface');
    sysctls.push([
      ifname.includes('.') ? `net/ipv4/conf/${ifname}/rp_filter` : rpFilterSysctl(ifname),
      int(value, 0, 2, `routing.rpFilter.${key}`),
    ]);
  }
  const runtime = runtimeLines(c, false);
  const name = commentText(meta.name);
  const when = commentText(meta.generatedAt, 40);
  const out: string[] = [
    `# MPTCP Studio persistent configuration: profile "${name}", generated ${when}.`,
    '#',
    '# This text holds three files. Each one is the lines between its BEGIN and END marker:',
    `#   1. ${SYSCTL_D_PATH}: the sysctls, applied at every boot by systemd-sysctl.`,
    `#   2. ${ENDPOINTS_SCRIPT_PATH}: path manager limits, MTUs, source routing and endpoints.`,
    '#      These are not sysctls: they are set with `ip` once the network is up. Source rules',
    '#      need their routes, which the kernel removes when a link goes down: on hosts whose links',
    '#      come and go, keep them with systemd-networkd or NetworkManager instead (see file 2).',
    `#   3. ${ENDPOINTS_UNIT_PATH}: a oneshot unit that runs file 2 at boot.`,
    '# To install, as root, in the directory holding this file:',
    `#   awk '/^# ----- END /{f=""} f{print > f} /^# ----- BEGIN /{f=$4}' ${PERSISTENT_FILENAME}`,
    `#   chmod 0755 ${ENDPOINTS_SCRIPT_PATH}`,
    '#   sysctl --system',
    `#   systemctl daemon-reload && systemctl enable --now ${ENDPOINTS_UNIT_NAME}`,
    '# All of this applies to the host (initial network namespace), not to containers.',
    '',
    begin(SYSCTL_D_PATH),
    `# MPTCP Studio, profile "${name}", generated ${when}.`,
  ];
  const cc = c.congestionControl;
  const coupled = coupledCc(c);
  if (coupled) {
    out.push(
      `# ${coupled} is a BPF congestion control: this file is read before it is registered, so set the`,
      `# default from mptcp-studio-cc@${coupled}.service instead (ExecStartPost, see the unit's header).`,
    );
  } else if (cc !== undefined && cc !== 'reno' && cc !== 'cubic') {
    out.push(
      `# ${cc} may be a module: if so, list it in /etc/modules-load.d/ so it is loaded before this file.`,
    );
  }
  for (const [key, value] of sysctls) out.push(`${key} = ${value}`);
  out.push(end(SYSCTL_D_PATH), '', begin(ENDPOINTS_SCRIPT_PATH));
  out.push(
    ...scriptHeader(meta, [
      `Run at boot by ${ENDPOINTS_UNIT_NAME}: limits, MTUs and endpoints (the sysctls are in`,
      `${SYSCTL_D_PATH}).`,
    ]),
  );
  out.push(...preflightLines(c, runtime.length > 0));
  if (runtime.length) out.push(...runtime);
  else out.push('# This profile sets no limits, MTUs or endpoints: nothing to do.');
  out.push(
    end(ENDPOINTS_SCRIPT_PATH),
    '',
    begin(ENDPOINTS_UNIT_PATH),
    '[Unit]',
    'Description=MPTCP Studio: MPTCP limits, MTUs and endpoints',
    // network-online: the endpoints are addresses, which must exist before the script looks.
    'Wants=network-online.target',
    'After=network-online.target systemd-sysctl.service',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/bin/sh ${ENDPOINTS_SCRIPT_PATH}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    end(ENDPOINTS_UNIT_PATH),
  );
  return out.join('\n') + '\n';
}

/**
 * Render `config` in `format`. Throws an Error (with the field and the reason) when the config is
 * invalid or a value is not safe to write into a script.
 */
export function formatExport(config: MptcpConfig, format: ExportFormat, meta: ExportMeta): ExportFile {
  const c = checkedConfig(config);
  switch (format) {
    case 'json': {
      const parsed = ProfileSchema.safeParse({
        schemaVersion: PROFILE_SCHEMA_VERSION,
        name: meta.name,
        description: (meta.description ?? `Exported by MPTCP Studio at ${meta.generatedAt}`).slice(0, 2000),
        config: c,
      });
      if (!parsed.success) {
        throw new Error(`cannot export as a profile: ${describeIssues(parsed.error.issues).join('; ')}`);
      }
      return { filename: `${fileSlug(meta.name)}.json`, text: JSON.stringify(parsed.data, null, 2) + '\n' };
    }
    case 'sh':
      return { filename: `${fileSlug(meta.name)}.sh`, text: shellScript(c, meta) };
    case 'sysctl.d':
      return { filename: PERSISTENT_FILENAME, text: persistentText(c, meta) };
  }
}
