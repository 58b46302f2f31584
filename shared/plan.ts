/**
 * From live state and a desired configuration to an ordered list of steps, each of which is plain
 * data with its inverse, a sentence for people and the equivalent shell command. Pure: the engine
 * applies the steps, the UI shows them, tests check them, all from the same function.
 */
import {
  addressKey,
  endpointAddressProblem,
  isConfigurableIfname,
  MAX_MTU_ENTRIES,
  TCP_BUFFER_FLOOR_BYTES,
  type DesiredEndpoint,
  type EndpointPolicy,
  type MptcpConfig,
} from './config';
import {
  exportRouting,
  invertRoutingStep,
  isNoopRoutingStep,
  planRouting,
  routingStepImpact,
  rpFilterImpact,
  rpFilterOf,
  describeRoutingStep,
  shellForRoutingStep,
  type RoutingStep,
} from './plan-routing';
import { ccRegisterShell, ccUnregisterShell, type CcId, type CcStatus } from './cc';
import { compileGlob } from './glob';
import type { PlanView, StepImpact } from './config-api';
import type {
  Connection,
  ConnectionsSnapshot,
  Endpoint,
  EndpointFlags,
  Limits,
  NetInterface,
  Overview,
  Subflow,
} from './types';

export interface EndpointSpec {
  /** 0 = let the kernel allocate. */
  id: number;
  family: 'inet' | 'inet6';
  address: string;
  port: number | null;
  ifindex: number | null;
  ifname: string | null;
  flags: Omit<EndpointFlags, 'implicit'>;
}

export type Step =
  | { kind: 'sysctl'; name: string; from: string; to: string }
  | { kind: 'limits'; from: Limits; to: Limits }
  | { kind: 'endpoint-del'; endpoint: EndpointSpec }
  | { kind: 'endpoint-add'; endpoint: EndpointSpec }
  /**
   * MPTCP_PM_CMD_SET_FLAGS on the live endpoint `endpoint` (its flags as they are before the
   * step): only backup and fullmesh can change in place (docs/configuration.md).
   */
  | { kind: 'endpoint-flags'; endpoint: EndpointSpec; to: InPlaceFlags }
  | { kind: 'mtu'; ifname: string; ifindex: number; from: number; to: number }
  /** A coupled CC as BPF struct_ops; objectPath is for people only (the engine uses its own). */
  | { kind: 'cc-register'; name: CcId; kernelName: string; objectPath: string | null }
  | { kind: 'cc-unregister'; name: CcId; kernelName: string; objectPath: string | null }
  /** Source routing (shared/plan-routing.ts): rules and routes MPTCP Studio owns. */
  | RoutingStep;

/** The endpoint flags MPTCP_PM_CMD_SET_FLAGS changes; the kernel ignores the others. */
export interface InPlaceFlags {
  backup: boolean;
  fullmesh: boolean;
}

/**
 * What a plan may know besides the overview: the coupled CCs this engine can register, and the
 * live connections (for each step's impact; absent or null: not known, so a step that may close
 * subflows is counted as closing them).
 */
export interface PlanContext {
  coupledCc?: CcStatus[];
  connections?: ConnectionsSnapshot | null;
}

export interface Plan {
  steps: Step[];
  /** Things the plan could not do, said plainly (the apply refuses while there are any). */
  errors: string[];
  /** Things worth knowing that do not stop the apply. */
  warnings: string[];
}

/** Config field → the sysctl behind it (Documentation/networking/mptcp-sysctl.rst). */
export const sysctlKeys: Record<keyof NonNullable<MptcpConfig['sysctls']>, string> = {
  checksumEnabled: 'net.mptcp.checksum_enabled',
  allowJoinInitialAddrPort: 'net.mptcp.allow_join_initial_addr_port',
  addAddrTimeoutS: 'net.mptcp.add_addr_timeout',
  closeTimeoutS: 'net.mptcp.close_timeout',
  staleLossCnt: 'net.mptcp.stale_loss_cnt',
  blackholeTimeoutS: 'net.mptcp.blackhole_timeout',
  synRetransBeforeTcpFallback: 'net.mptcp.syn_retrans_before_tcp_fallback',
};

const flagOrder = ['signal', 'subflow', 'backup', 'fullmesh', 'laminar'] as const;

/**
 * The step that undoes `s`, or null when nothing is undone: a coupled CC this plan registered
 * stays registered on rollback and revert. Registration is global and idempotent, and harmless
 * once nothing uses it as default; undoing it needs CAP_SYS_ADMIN (bpftool finds the map by id),
 * which the agent does not hold, and fails while subflows still run it (EBUSY). Making the undo
 * depend on it would leave the default CC changed after a failed revert; the plan says instead
 * that the CC stays (see planConfig) and how to unload it.
 */
export function invertStep(s: Step): Step | null {
  switch (s.kind) {
    case 'sysctl':
      return { ...s, from: s.to, to: s.from };
    case 'limits':
      return { ...s, from: s.to, to: s.from };
    case 'endpoint-add':
      return { kind: 'endpoint-del', endpoint: s.endpoint };
    case 'endpoint-del':
      return { kind: 'endpoint-add', endpoint: s.endpoint };
    case 'endpoint-flags':
      return {
        kind: 'endpoint-flags',
        endpoint: { ...s.endpoint, flags: { ...s.endpoint.flags, ...s.to } },
        to: { backup: s.endpoint.flags.backup, fullmesh: s.endpoint.flags.fullmesh },
      };
    case 'mtu':
      return { ...s, from: s.to, to: s.from };
    case 'cc-register':
      return null;
    case 'cc-unregister':
      return { ...s, kind: 'cc-register' };
    case 'rule-add':
    case 'rule-del':
    case 'route-add':
    case 'route-del':
      return invertRoutingStep(s);
  }
}

function flagWords(f: EndpointSpec['flags']): string {
  return flagOrder.filter((k) => f[k]).join(' ');
}

/** "backup on, fullmesh off": the in-place flags a step changes, only those. */
function flagChanges(s: Extract<Step, { kind: 'endpoint-flags' }>): string {
  return (['backup', 'fullmesh'] as const)
    .filter((k) => s.endpoint.flags[k] !== s.to[k])
    .map((k) => `${k} ${s.to[k] ? 'on' : 'off'}`)
    .join(', ');
}

/** The sentence a person reads in the plan. */
export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'sysctl':
      return `Set ${s.name} from ${s.from} to ${s.to}`;
    case 'limits': {
      // Only what changes: "subflows 6 → 6" is noise in a plan.
      const parts: string[] = [];
      if (s.from.subflows !== s.to.subflows) parts.push(`subflows ${s.from.subflows} → ${s.to.subflows}`);
      if (s.from.addAddrAccepted !== s.to.addAddrAccepted)
        parts.push(`add_addr_accepted ${s.from.addAddrAccepted} → ${s.to.addAddrAccepted}`);
      return `Set path manager limits: ${parts.join(', ') || 'unchanged'}`;
    }
    case 'endpoint-flags':
      return `Change endpoint id ${s.endpoint.id} ${s.endpoint.address}${s.endpoint.port ? ` port ${s.endpoint.port}` : ''} in place: ${flagChanges(s) || 'no change'}`;
    case 'endpoint-add':
      return `Add endpoint ${s.endpoint.address}${s.endpoint.port ? ` port ${s.endpoint.port}` : ''} (${flagWords(s.endpoint.flags) || 'no flags'})${s.endpoint.ifname ? ` on ${s.endpoint.ifname}` : ''}`;
    case 'endpoint-del':
      return `Remove endpoint id ${s.endpoint.id} ${s.endpoint.address}${s.endpoint.port ? ` port ${s.endpoint.port}` : ''}`;
    case 'mtu':
      return `Set the MTU of ${s.ifname} from ${s.from} to ${s.to} bytes`;
    case 'cc-register':
      return `Register BPF congestion control ${s.kernelName}`;
    case 'cc-unregister':
      return `Unregister BPF congestion control ${s.kernelName}`;
    case 'rule-add':
    case 'rule-del':
    case 'route-add':
    case 'route-del':
      return describeRoutingStep(s);
  }
}

/** The same change as a shell command (for review, and for `export --format sh`). */
export function shellForStep(s: Step): string {
  switch (s.kind) {
    case 'sysctl': {
      // sysctl(8) splits names at dots: an interface name with one (a VLAN, `eth0.100`) is given
      // in the slash form instead.
      const rp = rpFilterOf(s.name);
      const name = rp !== null && rp.includes('.') ? `net/ipv4/conf/${rp}/rp_filter` : s.name;
      return `sysctl -w ${name}=${/\s/.test(s.to) ? `'${s.to}'` : s.to}`;
    }
    case 'limits':
      return `ip mptcp limits set subflows ${s.to.subflows} add_addr_accepted ${s.to.addAddrAccepted}`;
    case 'endpoint-add': {
      const e = s.endpoint;
      const parts = ['ip mptcp endpoint add', e.address];
      if (e.port) parts.push('port', String(e.port));
      if (e.ifname) parts.push('dev', e.ifname);
      if (e.id) parts.push('id', String(e.id));
      const words = flagWords(e.flags);
      if (words) parts.push(words);
      return parts.join(' ');
    }
    case 'endpoint-del':
      return `ip mptcp endpoint delete id ${s.endpoint.id}`;
    case 'endpoint-flags':
      // Both flags, always: iproute2's `change` sends only the flags it is given and the kernel
      // replaces both (`change id 1 backup` clears fullmesh).
      return `ip mptcp endpoint change id ${s.endpoint.id} ${s.to.backup ? 'backup' : 'nobackup'} ${s.to.fullmesh ? 'fullmesh' : 'nofullmesh'}`;
    case 'mtu':
      return `ip link set dev ${s.ifname} mtu ${s.to}`;
    case 'cc-register':
      return ccRegisterShell(s);
    case 'cc-unregister':
      return ccUnregisterShell(s.kernelName);
    case 'rule-add':
    case 'rule-del':
    case 'route-add':
    case 'route-del':
      return shellForRoutingStep(s);
  }
}

export function endpointSpecOf(e: Endpoint): EndpointSpec {
  const { signal, subflow, backup, fullmesh, laminar } = e.flags;
  return {
    id: e.id,
    family: e.family,
    address: e.address,
    port: e.port,
    ifindex: e.ifindex,
    ifname: e.ifname,
    flags: { signal, subflow, backup, fullmesh, laminar },
  };
}

function sysctlValue(o: Overview, name: string): string | null {
  return o.status.mptcpSysctls.find((s) => s.name === name)?.value ?? null;
}

const tripletText = (t: { minBytes: number; defaultBytes: number; maxBytes: number }): string =>
  `${t.minBytes}\t${t.defaultBytes}\t${t.maxBytes}`;

/**
 * The whole current state as a config: export on one host, apply on another, same result. What the
 * config schema refuses is left out, so that the export always parses: endpoints on an address
 * that is never a host's own (endpointAddressProblem: the advisor reports those), and the MTUs of
 * interfaces whose name or MTU a config cannot hold (a name outside IFNAMSIZ's character set,
 * `__proto__`, a CAN device's MTU of 16) or past the first MAX_MTU_ENTRIES.
 */
export function exportConfig(o: Overview): MptcpConfig {
  const num = (name: string): number | undefined => {
    const v = sysctlValue(o, name);
    return v === null || !/^-?\d+$/.test(v) ? undefined : Number(v);
  };
  const bool = (name: string): boolean | undefined => {
    const n = num(name);
    return n === undefined ? undefined : n !== 0;
  };
  const sysctls: NonNullable<MptcpConfig['sysctls']> = {};
  for (const [key, name] of Object.entries(sysctlKeys) as [keyof typeof sysctlKeys, string][]) {
    const n = num(name);
    if (n === undefined) continue;
    if (key === 'checksumEnabled' || key === 'allowJoinInitialAddrPort') sysctls[key] = bool(name) ?? false;
    else sysctls[key] = Math.max(0, n);
  }
  const b = o.status.buffers;
  const cfg: MptcpConfig = {
    enabled: o.status.enabled,
    sysctls,
    endpoints: o.endpoints
      .filter((e) => !e.flags.implicit && endpointAddressProblem(e.address) === null)
      .map((e) => {
        const d: DesiredEndpoint = { address: e.address, id: e.id, flags: endpointSpecOf(e).flags };
        if (e.port !== null) d.port = e.port;
        if (e.ifname) d.ifname = e.ifname;
        return d;
      }),
    buffers: {
      ...(b.tcpRmem ? { tcpRmem: b.tcpRmem } : {}),
      ...(b.tcpWmem ? { tcpWmem: b.tcpWmem } : {}),
      ...(b.rmemMaxBytes !== null ? { rmemMaxBytes: b.rmemMaxBytes } : {}),
      ...(b.wmemMaxBytes !== null ? { wmemMaxBytes: b.wmemMaxBytes } : {}),
    },
    mtu: Object.fromEntries(
      o.interfaces
        .filter(
          (i) =>
            !i.loopback &&
            isConfigurableIfname(i.name) &&
            Number.isInteger(i.mtuBytes) &&
            i.mtuBytes >= 68 &&
            i.mtuBytes <= 65535,
        )
        .slice(0, MAX_MTU_ENTRIES)
        .map((i) => [i.name, i.mtuBytes]),
    ),
  };
  if (o.status.pathManager) cfg.pathManager = o.status.pathManager;
  if (o.status.scheduler) cfg.scheduler = o.status.scheduler;
  if (o.status.congestionControl.default) cfg.congestionControl = o.status.congestionControl.default;
  if (o.limits) cfg.limits = o.limits;
  const routing = exportRouting(o);
  if (routing) cfg.routing = routing;
  return cfg;
}

/** Interface-name globs (`*`, `?`, `[...]`), matched without regular expressions: shared/glob.ts. */
export { globMatch } from './glob';

/** Expand per-interface rules against the live addresses (global-scope ones only). */
export function expandPolicy(policy: EndpointPolicy[], interfaces: NetInterface[]): DesiredEndpoint[] {
  const out: DesiredEndpoint[] = [];
  const seen = new Set<string>();
  for (const rule of policy) {
    // A glob with an error (the schema refuses those) matches nothing.
    const matches = compileGlob(rule.match) ?? (() => false);
    for (const ifc of interfaces) {
      if (ifc.loopback || !ifc.usable || !matches(ifc.name)) continue;
      for (const a of ifc.addresses) {
        // RT_SCOPE_UNIVERSE only: link-local addresses cannot carry subflows to other networks.
        if (a.scope !== 0 || !rule.families.includes(a.family) || seen.has(a.address)) continue;
        seen.add(a.address);
        const d: DesiredEndpoint = { address: a.address, ifname: ifc.name, flags: rule.flags };
        if (rule.port != null) d.port = rule.port;
        out.push(d);
      }
    }
  }
  return out;
}

function sameFlags(a: EndpointSpec['flags'], b: EndpointSpec['flags']): boolean {
  return flagOrder.every((k) => a[k] === b[k]);
}

/** The flags MPTCP_PM_CMD_SET_FLAGS cannot change: a change of one of these is a delete + add. */
function sameFixedFlags(a: EndpointSpec['flags'], b: EndpointSpec['flags']): boolean {
  return a.signal === b.signal && a.subflow === b.subflow && a.laminar === b.laminar;
}

const familyOf = (address: string): 'inet' | 'inet6' => (address.includes(':') ? 'inet6' : 'inet');

/** Same address, whatever its spelling (`2001:DB8::1` is `2001:db8:0::1`). */
export function sameAddress(a: string, b: string): boolean {
  return a === b || (addressKey(a) !== null && addressKey(a) === addressKey(b));
}

const sameText = (a: string, b: string): boolean =>
  a.trim().split(/\s+/).join(' ') === b.trim().split(/\s+/).join(' ');

/** A step that changes nothing: never shown, never applied. */
export function isNoopStep(s: Step): boolean {
  switch (s.kind) {
    case 'sysctl':
      return sameText(s.from, s.to);
    case 'limits':
      return s.from.subflows === s.to.subflows && s.from.addAddrAccepted === s.to.addAddrAccepted;
    case 'mtu':
      return s.from === s.to;
    case 'endpoint-flags':
      return s.endpoint.flags.backup === s.to.backup && s.endpoint.flags.fullmesh === s.to.fullmesh;
    case 'endpoint-add':
    case 'endpoint-del':
    case 'cc-register':
    case 'cc-unregister':
      return false;
    case 'rule-add':
    case 'rule-del':
    case 'route-add':
    case 'route-del':
      return isNoopRoutingStep(s);
  }
}

/** Drop no-op steps, and a delete followed by the add of exactly the same endpoint. */
function withoutNoops(steps: Step[]): Step[] {
  const kept = steps.filter((s) => !isNoopStep(s));
  const same = (a: EndpointSpec, b: EndpointSpec): boolean =>
    a.id !== 0 &&
    a.id === b.id &&
    sameAddress(a.address, b.address) &&
    a.port === b.port &&
    a.ifindex === b.ifindex &&
    sameFlags(a.flags, b.flags);
  const dropped = new Set<Step>();
  for (const del of kept) {
    if (del.kind !== 'endpoint-del') continue;
    const add = kept.find(
      (s) => s.kind === 'endpoint-add' && !dropped.has(s) && same(s.endpoint, del.endpoint),
    );
    if (add) {
      dropped.add(del);
      dropped.add(add);
    }
  }
  return kept.filter((s) => !dropped.has(s));
}

/**
 * Compute the steps from `o` (live) to `desired`. Fields absent from `desired` are left alone.
 * Capability checks use what the running kernel offers, so a profile from another kernel fails
 * here with a reason instead of half-way through an apply.
 *
 * Order: MTUs; endpoint removals (they free ids and room under the 8-endpoint cap); global
 * switches and MPTCP sysctls; limits; endpoint flag changes and additions (which the limits
 * govern); congestion control and buffers. An endpoint whose backup or fullmesh flag alone differs
 * is changed in place (MPTCP_PM_CMD_SET_FLAGS); only a different address, port, interface, id or
 * signal/subflow/laminar flag needs a delete and an add, which closes the subflows it carries.
 * Steps that change nothing are left out.
 */
export function planConfig(o: Overview, desired: MptcpConfig, ctx: PlanContext = {}): Plan {
  const mtus: Step[] = [];
  const removals: Step[] = [];
  const settings: Step[] = [];
  const limits: Step[] = [];
  const inPlace: Step[] = [];
  const adds: Step[] = [];
  const last: Step[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  const status = o.status;
  const sysctl = (name: string, to: string, into: Step[] = settings): void => {
    const entry = status.mptcpSysctls.find((s) => s.name === name);
    const from = entry?.value ?? sysctlValueOutside(o, name);
    if (from === null) {
      errors.push(`${name} does not exist on this kernel`);
      return;
    }
    if (sameText(from, to)) return;
    if ((entry && !entry.writable) || status.readOnlySysctls.includes(name)) {
      errors.push(`${name} is read-only here`);
      return;
    }
    into.push({ kind: 'sysctl', name, from, to });
  };

  // MTUs first: an endpoint step then meets the interface as it will be.
  for (const [name, mtu] of Object.entries(desired.mtu ?? {})) {
    const ifc = o.interfaces.find((i) => i.name === name);
    if (!ifc) {
      errors.push(`interface ${name} does not exist`);
      continue;
    }
    if (ifc.mtuBytes === mtu) continue;
    if (
      (ifc.minMtuBytes !== null && mtu < ifc.minMtuBytes) ||
      (ifc.maxMtuBytes !== null && mtu > ifc.maxMtuBytes)
    ) {
      errors.push(
        `MTU ${mtu} for ${name} is outside what the device accepts (${ifc.minMtuBytes ?? '?'}..${ifc.maxMtuBytes ?? '?'})`,
      );
      continue;
    }
    // docs/kernel-interfaces.md, Namespaces, addresses and MTUs: below 1280 the kernel removes IPv6 from the interface, endpoints included.
    if (mtu < 1280 && ifc.addresses.some((a) => a.family === 'inet6')) {
      errors.push(
        `MTU ${mtu} for ${name} is below 1280: the kernel would remove its IPv6 addresses (RFC 8200 minimum)`,
      );
      continue;
    }
    mtus.push({ kind: 'mtu', ifname: name, ifindex: ifc.index, from: ifc.mtuBytes, to: mtu });
  }

  // Endpoints.
  let wanted: DesiredEndpoint[] | null = desired.endpoints ?? null;
  if (desired.endpointPolicy) {
    wanted = expandPolicy(desired.endpointPolicy, o.interfaces);
    if (wanted.length > 8) {
      warnings.push(
        `the policy matches ${wanted.length} addresses; the in-kernel path manager holds 8, so these are left out: ${wanted
          .slice(8)
          .map((w) => w.address)
          .join(', ')}`,
      );
      wanted = wanted.slice(0, 8);
    }
  }
  if (desired.endpoints && o.interfaces.length > 0) {
    // The kernel takes any address; one no interface holds cannot source a subflow (bind fails
    // with EADDRNOTAVAIL), and an announced one reaches this host only if something forwards it.
    const local = new Set(o.interfaces.flatMap((i) => i.addresses.map((a) => addressKey(a.address))));
    for (const w of desired.endpoints) {
      if (!local.has(addressKey(w.address))) {
        warnings.push(
          `endpoint ${w.address}: no interface here has this address, so no subflow can start from it${w.flags.signal ? ', and peers reach the announced address only if it is forwarded to this host' : ''}`,
        );
      }
    }
  }
  if (wanted) {
    const byName = new Map(o.interfaces.map((i) => [i.name, i]));
    const current = o.endpoints.filter((e) => !e.flags.implicit);
    const keep = new Set<Endpoint>();
    let added = 0;
    for (const w of wanted) {
      const ifc = w.ifname ? byName.get(w.ifname) : undefined;
      if (w.ifname && !ifc) {
        errors.push(`endpoint ${w.address}: interface ${w.ifname} does not exist`);
        continue;
      }
      const spec: EndpointSpec = {
        id: w.id ?? 0,
        family: familyOf(w.address),
        address: w.address,
        port: w.port ?? null,
        ifindex: ifc?.index ?? null,
        ifname: w.ifname ?? null,
        flags: w.flags,
      };
      // The same endpoint as far as the kernel can tell without deleting it.
      const candidates = current.filter(
        (e) =>
          !keep.has(e) &&
          sameAddress(e.address, spec.address) &&
          e.port === spec.port &&
          (spec.id === 0 || e.id === spec.id) &&
          (spec.ifname === null || e.ifname === spec.ifname) &&
          sameFixedFlags(endpointSpecOf(e).flags, spec.flags),
      );
      const exact = candidates.find((e) => sameFlags(endpointSpecOf(e).flags, spec.flags));
      const match = exact ?? candidates[0];
      if (match) {
        keep.add(match);
        if (!exact) {
          inPlace.push({
            kind: 'endpoint-flags',
            endpoint: endpointSpecOf(match),
            to: { backup: spec.flags.backup, fullmesh: spec.flags.fullmesh },
          });
        }
      } else {
        adds.push({ kind: 'endpoint-add', endpoint: spec });
        added++;
      }
    }
    for (const e of current)
      if (!keep.has(e)) removals.push({ kind: 'endpoint-del', endpoint: endpointSpecOf(e) });
    const implicitCount = o.endpoints.length - current.length;
    if (keep.size + added + implicitCount > 8) {
      errors.push(
        `${keep.size + added} endpoints plus ${implicitCount} implicit ones exceed the in-kernel limit of 8`,
      );
    }
  }

  // Source routing and rp_filter: before the endpoints, so that a subflow an endpoint step opens
  // already finds its route (plan-routing.ts).
  const routing = planRouting(o, desired.routing, errors, warnings);

  // Global switches and MPTCP sysctls.
  if (desired.enabled !== undefined) sysctl('net.mptcp.enabled', desired.enabled ? '1' : '0');
  if (desired.pathManager !== undefined) {
    if (!status.availablePathManagers.includes(desired.pathManager)) {
      errors.push(
        `path manager "${desired.pathManager}" is not available (this kernel offers: ${status.availablePathManagers.join(', ') || 'none'})`,
      );
    } else if (status.mptcpSysctls.some((s) => s.name === 'net.mptcp.path_manager')) {
      sysctl('net.mptcp.path_manager', desired.pathManager);
    } else {
      sysctl('net.mptcp.pm_type', desired.pathManager === 'userspace' ? '1' : '0');
    }
  }
  if (desired.scheduler !== undefined) {
    if (!status.availableSchedulers.includes(desired.scheduler)) {
      errors.push(
        `scheduler "${desired.scheduler}" is not available (this kernel offers: ${status.availableSchedulers.join(', ') || 'none'})`,
      );
    } else sysctl('net.mptcp.scheduler', desired.scheduler);
  }
  for (const [key, value] of Object.entries(desired.sysctls ?? {}) as [
    keyof typeof sysctlKeys,
    number | boolean,
  ][]) {
    sysctl(sysctlKeys[key], typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }

  // Limits, then the endpoint flag changes and additions that may need them.
  if (desired.limits) {
    if (!o.limits) errors.push('the in-kernel path manager limits cannot be read on this kernel');
    else if (
      o.limits.subflows !== desired.limits.subflows ||
      o.limits.addAddrAccepted !== desired.limits.addAddrAccepted
    ) {
      limits.push({ kind: 'limits', from: o.limits, to: desired.limits });
    }
  }

  // Congestion control and buffers.
  const coupled = ctx.coupledCc?.find((c) => c.kernelName === desired.congestionControl);
  if (coupled && !coupled.registered && desired.congestionControl !== undefined) {
    // A coupled CC this engine ships: register it first (TCP_CONG_NON_RESTRICTED, so any
    // namespace may make it its default), then make it the default.
    if (!coupled.available) {
      errors.push(
        `congestion control "${coupled.kernelName}" cannot be loaded here: ${coupled.reason ?? 'unavailable'}`,
      );
    } else {
      last.push({
        kind: 'cc-register',
        name: coupled.id,
        kernelName: coupled.kernelName,
        objectPath: coupled.objectPath,
      });
      warnings.push(
        `${coupled.kernelName} stays registered (global, harmless) even if this change is reverted or rolled back; unload it from the Configure page or \`mptcp-studio cc unload ${coupled.id}\``,
      );
      const from = status.congestionControl.default;
      if (from === null) errors.push('net.ipv4.tcp_congestion_control cannot be read here');
      else if (status.readOnlySysctls.includes('net.ipv4.tcp_congestion_control'))
        errors.push('net.ipv4.tcp_congestion_control is read-only here');
      else
        last.push({ kind: 'sysctl', name: 'net.ipv4.tcp_congestion_control', from, to: coupled.kernelName });
    }
  } else if (desired.congestionControl !== undefined) {
    if (!status.congestionControl.available.includes(desired.congestionControl)) {
      errors.push(
        `congestion control "${desired.congestionControl}" is not available (this kernel offers: ${status.congestionControl.available.join(', ')})`,
      );
    } else if (
      status.inInitNetns === false &&
      desired.congestionControl !== status.congestionControl.default &&
      !status.congestionControl.allowed.includes(desired.congestionControl)
    ) {
      // net/ipv4/tcp_cong.c: outside init_net only non-restricted CCs may become the default.
      errors.push(
        `congestion control "${desired.congestionControl}" cannot be this namespace's default: outside the host's namespace the kernel only accepts one of net.ipv4.tcp_allowed_congestion_control (${status.congestionControl.allowed.join(', ')})`,
      );
    } else sysctl('net.ipv4.tcp_congestion_control', desired.congestionControl, last);
  }
  const buf = desired.buffers ?? {};
  for (const [name, t] of [
    ['net.ipv4.tcp_rmem', buf.tcpRmem],
    ['net.ipv4.tcp_wmem', buf.tcpWmem],
  ] as const) {
    const tiny = tinyBufferFields(t);
    if (tiny) warnings.push(`${name} ${tripletText(t!).replace(/\t/g, ' ')}: ${tiny}`);
  }
  if (buf.tcpRmem) sysctl('net.ipv4.tcp_rmem', tripletText(buf.tcpRmem), last);
  if (buf.tcpWmem) sysctl('net.ipv4.tcp_wmem', tripletText(buf.tcpWmem), last);
  if (buf.rmemMaxBytes !== undefined) sysctl('net.core.rmem_max', String(buf.rmemMaxBytes), last);
  if (buf.wmemMaxBytes !== undefined) sysctl('net.core.wmem_max', String(buf.wmemMaxBytes), last);

  const steps = withoutNoops([
    ...mtus,
    ...routing,
    ...removals,
    ...settings,
    ...limits,
    ...inPlace,
    ...adds,
    ...last,
  ]);
  return { steps, errors, warnings };
}

// ---------------------------------------------------------------------------------------------
// Impact on live traffic

/** Subflow states that carry (or are about to carry) traffic. */
const LIVE_STATES: ReadonlySet<Subflow['state']> = new Set([
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'CLOSE_WAIT',
]);

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export interface LiveSubflow {
  conn: Connection;
  sf: Subflow;
}

function liveSubflows(live: ConnectionsSnapshot): LiveSubflow[] {
  return live.connections
    .filter((c) => !c.fallback)
    .flatMap((conn) => conn.subflows.filter((sf) => LIVE_STATES.has(sf.state)).map((sf) => ({ conn, sf })));
}

/** "6 live subflows of 3 connections". */
export function countText(list: LiveSubflow[]): string {
  const conns = new Set(list.map((l) => l.conn.token)).size;
  return `${plural(list.length, 'live subflow')} of ${plural(conns, 'connection')}`;
}

function closesImpact(list: LiveSubflow[] | null, address: string, rest = ''): StepImpact {
  if (list === null) {
    return {
      level: 'closes',
      text: `closes every live subflow from ${address} (the live connections could not be read)${rest}`,
      closes: null,
    };
  }
  if (list.length === 0) return { level: 'none', text: `no live subflow uses ${address}`, closes: null };
  return {
    level: 'closes',
    text: `closes ${countText(list)} (${address})${rest}`,
    closes: {
      subflows: list.length,
      connections: new Set(list.map((l) => l.conn.token)).size,
      address,
    },
  };
}

/**
 * What `s` does to live traffic, from the live connections (null: unknown). `steps` is the whole
 * plan (an endpoint deleted to be added again says so). What the kernel does, per step kind, is
 * described in docs/configuration.md ("What a change does to live traffic").
 */
export function stepImpact(
  s: Step,
  o: Overview,
  live: ConnectionsSnapshot | null | undefined,
  steps: Step[] = [s],
): StepImpact {
  const all = live ? liveSubflows(live) : null;
  const connCount = live ? live.connections.filter((c) => !c.fallback).length : null;
  const from = (address: string, port: number | null): LiveSubflow[] | null =>
    all === null
      ? null
      : all.filter(
          (l) => sameAddress(l.sf.localAddress, address) && (port === null || l.sf.localPort === port),
        );
  const liveOrNone = (text: string): StepImpact => ({
    level: connCount === 0 ? 'none' : 'live',
    text: connCount === 0 ? `${text} (no live connection now)` : text,
    closes: null,
  });
  const newOnly = (text: string): StepImpact => ({ level: 'new', text, closes: null });
  switch (s.kind) {
    case 'endpoint-del': {
      const e = s.endpoint;
      const readded = steps.find(
        (t): t is Extract<Step, { kind: 'endpoint-add' }> =>
          t.kind === 'endpoint-add' && sameAddress(t.endpoint.address, e.address),
      );
      // A peer that gets the address announced again may not take it (the in-kernel path manager
      // counts accepted announcements against add_addr_accepted), so new subflows are not a given.
      const rest = readded
        ? readded.endpoint.flags.subflow
          ? '; the endpoint added again opens new subflows only as the limits allow'
          : readded.endpoint.flags.signal
            ? '; the address is announced again, and peers join it only as their limits allow'
            : '; the endpoint added again opens no subflow by itself'
        : e.flags.signal
          ? '; peers are told the address is gone (RM_ADDR)'
          : '';
      return closesImpact(from(e.address, e.port), e.address, rest);
    }
    case 'endpoint-add': {
      const e = s.endpoint;
      if (!e.flags.signal && !e.flags.subflow)
        return {
          level: 'none',
          text: 'no live connection changes (neither signal nor subflow)',
          closes: null,
        };
      const what = e.flags.signal
        ? `announced to the peers of live connections (ADD_ADDR)`
        : `live connections may open subflows from ${e.address} as the limits allow`;
      return liveOrNone(`${what}; no subflow closes`);
    }
    case 'endpoint-flags': {
      const e = s.endpoint;
      const fullmeshChanges = e.flags.fullmesh !== s.to.fullmesh;
      const backupChanges = e.flags.backup !== s.to.backup;
      const list = from(e.address, e.port);
      // net/mptcp/pm_kernel.c mptcp_pm_nl_set_flags_all: a fullmesh change on a subflow endpoint
      // removes the subflows from its address and lets the path manager create them again.
      if (fullmeshChanges && e.flags.subflow) {
        return closesImpact(
          list,
          e.address,
          '; the path manager opens new ones as fullmesh and the limits allow',
        );
      }
      if (!backupChanges)
        return {
          level: 'none',
          text: 'no live subflow changes (the endpoint has no subflow flag)',
          closes: null,
        };
      if (list === null)
        return {
          level: 'live',
          text: `live subflows from ${e.address} ${s.to.backup ? 'become backup' : 'stop being backup'} (MP_PRIO); all stay open`,
          closes: null,
        };
      if (list.length === 0)
        return {
          level: 'none',
          text: `no live subflow uses ${e.address}; new ones get the flag`,
          closes: null,
        };
      return {
        level: 'live',
        text: `${countText(list)} from ${e.address} ${s.to.backup ? 'become backup' : 'stop being backup'} (MP_PRIO, RFC 8684 §3.3.8); all stay open`,
        closes: null,
      };
    }
    case 'limits': {
      const parts: string[] = [];
      if (s.to.subflows > s.from.subflows)
        parts.push(`live connections may open more subflows (up to ${s.to.subflows})`);
      if (s.to.subflows < s.from.subflows)
        parts.push(`live subflows stay; none opens beyond ${s.to.subflows} per connection`);
      if (s.to.addAddrAccepted !== s.from.addAddrAccepted)
        parts.push(`announcements are accepted up to ${s.to.addAddrAccepted} per connection from now on`);
      return liveOrNone(parts.join('; ') || 'no change');
    }
    case 'mtu': {
      const ifc = o.interfaces.find((i) => i.index === s.ifindex);
      const onIf =
        all === null
          ? null
          : all.filter(
              (l) =>
                l.sf.ifindex === s.ifindex ||
                (ifc?.addresses.some((a) => sameAddress(a.address, l.sf.localAddress)) ?? false),
            );
      if (s.to > s.from)
        return newOnly(
          `existing subflows on ${s.ifname} keep their MSS (agreed at their handshake); new ones can use the larger MTU`,
        );
      if (onIf === null)
        return {
          level: 'live',
          text: `live subflows on ${s.ifname} lower their MSS to fit; none closes`,
          closes: null,
        };
      if (onIf.length === 0) return { level: 'none', text: `no live subflow on ${s.ifname}`, closes: null };
      return {
        level: 'live',
        text: `${countText(onIf)} on ${s.ifname} lower their MSS to fit; none closes`,
        closes: null,
      };
    }
    case 'sysctl': {
      const rp = rpFilterOf(s.name);
      return rp !== null ? rpFilterImpact(s, rp, o, all) : sysctlImpact(s, all, connCount);
    }
    case 'rule-add':
    case 'rule-del':
    case 'route-add':
    case 'route-del':
      return routingStepImpact(s, o, all, steps);
    case 'cc-register':
    case 'cc-unregister':
      return { level: 'none', text: 'no live connection changes', closes: null };
  }
}

function sysctlImpact(
  s: Extract<Step, { kind: 'sysctl' }>,
  all: LiveSubflow[] | null,
  connCount: number | null,
): StepImpact {
  const conns = connCount === null || connCount === 0 ? '' : `: ${plural(connCount, 'live connection')}`;
  const newOnly = (text: string): StepImpact => ({ level: 'new', text, closes: null });
  switch (s.name) {
    case 'net.ipv4.tcp_congestion_control': {
      const stay = all?.filter((l) => l.sf.congestionControl !== s.to) ?? null;
      return newOnly(
        stay && stay.length > 0
          ? `applies to new connections only: ${countText(stay)} stay on ${s.from} (and so do the subflows those connections open later)`
          : 'applies to new connections only (subflows of live connections stay on the old congestion control)',
      );
    }
    case 'net.mptcp.scheduler':
      return newOnly(`applies to new connections only${conns}${conns ? ' keep their scheduler' : ''}`);
    case 'net.mptcp.path_manager':
    case 'net.mptcp.pm_type':
      return newOnly(
        `applies to new connections only${conns}${conns ? ' keep the path manager they started with' : ''}`,
      );
    case 'net.mptcp.enabled':
      return newOnly(
        s.to === '0'
          ? `new sockets are plain TCP${conns}${conns ? ' keep running as MPTCP' : ''}`
          : 'new sockets may use MPTCP; live TCP connections stay TCP',
      );
    case 'net.mptcp.checksum_enabled':
    case 'net.mptcp.allow_join_initial_addr_port':
      return newOnly('agreed in the handshake: applies to new connections only');
    case 'net.ipv4.tcp_rmem':
    case 'net.ipv4.tcp_wmem':
      return newOnly(
        'new sockets start with the new sizes; live ones keep theirs and autotune up to the new maximum',
      );
    case 'net.core.rmem_max':
    case 'net.core.wmem_max':
      return newOnly('caps the buffer sizes sockets ask for from now on; live sockets keep theirs');
    default:
      return {
        level: connCount === 0 ? 'none' : 'live',
        text: `used by live connections from now on${connCount === 0 ? ' (no live connection now)' : ''}; no subflow closes`,
        closes: null,
      };
  }
}

/** The plan as the contract carries it: each step with its sentence, shell command and impact. */
export function planView(o: Overview, desired: MptcpConfig, ctx: PlanContext = {}): PlanView {
  const p = planConfig(o, desired, ctx);
  const live = ctx.connections ?? null;
  return {
    steps: p.steps.map((step) => ({
      step,
      description: describeStep(step),
      shell: shellForStep(step),
      impact: stepImpact(step, o, live, p.steps),
    })),
    errors: p.errors,
    warnings: p.warnings,
    live: live
      ? {
          connections: live.connections.length,
          subflows: live.connections.reduce((n, c) => n + c.subflows.length, 0),
          takenAtMs: live.takenAtMs,
        }
      : null,
  };
}

/**
 * The steps that close live subflows: an apply of them needs consent (ApplyArgs allowDisruption),
 * said in one sentence each.
 */
export function disruptions(view: Pick<PlanView, 'steps'>): string[] {
  return view.steps
    .filter((s) => s.impact.level === 'closes')
    .map((s) => `${s.description}: ${s.impact.text}`);
}

/**
 * What is wrong with a tcp_rmem / tcp_wmem triplet whose fields go below TCP_BUFFER_FLOOR_BYTES
 * (the kernel accepts down to 1), or null.
 */
export function tinyBufferFields(
  t: { minBytes: number; defaultBytes: number; maxBytes: number } | null | undefined,
): string | null {
  if (!t) return null;
  const low = (
    [
      ['min', t.minBytes],
      ['default', t.defaultBytes],
      ['max', t.maxBytes],
    ] as const
  ).filter(([, v]) => v < TCP_BUFFER_FLOOR_BYTES);
  if (low.length === 0) return null;
  const effect =
    t.maxBytes < TCP_BUFFER_FLOOR_BYTES
      ? 'can never buffer more than a few segments'
      : t.defaultBytes < TCP_BUFFER_FLOOR_BYTES
        ? 'start with almost no buffer'
        : 'may be cut to almost no buffer under memory pressure';
  return `${low.map(([k]) => k).join(', ')} below ${TCP_BUFFER_FLOOR_BYTES} bytes (the kernel's default minimum, Documentation/networking/ip-sysctl.rst): the kernel accepts it, but TCP sockets, MPTCP subflows included, then ${effect}`;
}

/** Sysctls outside net.mptcp the plan may touch, read from the status fields. */
function sysctlValueOutside(o: Overview, name: string): string | null {
  const s = o.status;
  switch (name) {
    case 'net.ipv4.tcp_congestion_control':
      return s.congestionControl.default;
    case 'net.ipv4.tcp_rmem':
      return s.buffers.tcpRmem ? tripletText(s.buffers.tcpRmem) : null;
    case 'net.ipv4.tcp_wmem':
      return s.buffers.tcpWmem ? tripletText(s.buffers.tcpWmem) : null;
    case 'net.core.rmem_max':
      return s.buffers.rmemMaxBytes === null ? null : String(s.buffers.rmemMaxBytes);
    case 'net.core.wmem_max':
      return s.buffers.wmemMaxBytes === null ? null : String(s.buffers.wmemMaxBytes);
    default: {
      const rp = rpFilterOf(name);
      const v = rp === null ? undefined : o.routing?.rpFilter.byIfname[rp];
      return v === undefined ? null : String(v);
    }
  }
}
