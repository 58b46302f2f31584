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
import { ccRegisterShell, ccUnregisterShell, type CcId, type CcStatus } from './cc';
import { compileGlob } from './glob';
import type { Endpoint, EndpointFlags, Limits, NetInterface, Overview } from './types';

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
  | { kind: 'mtu'; ifname: string; ifindex: number; from: number; to: number }
  /** A coupled CC as BPF struct_ops; objectPath is for people only (the engine uses its own). */
  | { kind: 'cc-register'; name: CcId; kernelName: string; objectPath: string | null }
  | { kind: 'cc-unregister'; name: CcId; kernelName: string; objectPath: string | null };

/** What a plan may know besides the overview: the coupled CCs this engine can register. */
export interface PlanContext {
  coupledCc?: CcStatus[];
}

export interface Plan {
  steps: Step[];
  /** Things the plan could not do, said plainly (the apply refuses while there are any). */
  errors: string[];
  /** Things worth knowing that do not stop the apply. */
  warnings: string[];
}

/** Config field → the sysctl behind it (reference §6.1). */
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
    case 'mtu':
      return { ...s, from: s.to, to: s.from };
    case 'cc-register':
      return null;
    case 'cc-unregister':
      return { ...s, kind: 'cc-register' };
  }
}

function flagWords(f: EndpointSpec['flags']): string {
  return flagOrder.filter((k) => f[k]).join(' ');
}

/** The sentence a person reads in the plan. */
export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'sysctl':
      return `Set ${s.name} from ${s.from} to ${s.to}`;
    case 'limits':
      return `Set path manager limits: subflows ${s.from.subflows} → ${s.to.subflows}, add_addr_accepted ${s.from.addAddrAccepted} → ${s.to.addAddrAccepted}`;
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
  }
}

/** The same change as a shell command (for review, and for `export --format sh`). */
export function shellForStep(s: Step): string {
  switch (s.kind) {
    case 'sysctl':
      return `sysctl -w ${s.name}=${/\s/.test(s.to) ? `'${s.to}'` : s.to}`;
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
    case 'mtu':
      return `ip link set dev ${s.ifname} mtu ${s.to}`;
    case 'cc-register':
      return ccRegisterShell(s);
    case 'cc-unregister':
      return ccUnregisterShell(s.kernelName);
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

const familyOf = (address: string): 'inet' | 'inet6' => (address.includes(':') ? 'inet6' : 'inet');

/**
 * Compute the steps from `o` (live) to `desired`. Fields absent from `desired` are left alone.
 * Capability checks use what the running kernel offers, so a profile from another kernel fails
 * here with a reason instead of half-way through an apply.
 */
export function planConfig(o: Overview, desired: MptcpConfig, ctx: PlanContext = {}): Plan {
  const steps: Step[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  const status = o.status;
  const sysctl = (name: string, to: string): void => {
    const entry = status.mptcpSysctls.find((s) => s.name === name);
    const from = entry?.value ?? sysctlValueOutside(o, name);
    if (from === null) {
      errors.push(`${name} does not exist on this kernel`);
      return;
    }
    if (from === to) return;
    if ((entry && !entry.writable) || status.readOnlySysctls.includes(name)) {
      errors.push(`${name} is read-only here`);
      return;
    }
    steps.push({ kind: 'sysctl', name, from, to });
  };

  // 1. Endpoint removals first: they free ids and room under the 8-endpoint cap.
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
  const adds: Step[] = [];
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
      const match = current.find(
        (e) =>
          e.address === spec.address &&
          e.port === spec.port &&
          (spec.id === 0 || e.id === spec.id) &&
          (spec.ifname === null || e.ifname === spec.ifname) &&
          sameFlags(endpointSpecOf(e).flags, spec.flags),
      );
      if (match) keep.add(match);
      else adds.push({ kind: 'endpoint-add', endpoint: spec });
    }
    for (const e of current)
      if (!keep.has(e)) steps.push({ kind: 'endpoint-del', endpoint: endpointSpecOf(e) });
    const implicitCount = o.endpoints.length - current.length;
    if (keep.size + adds.length + implicitCount > 8) {
      errors.push(
        `${keep.size + adds.length} endpoints plus ${implicitCount} implicit ones exceed the in-kernel limit of 8`,
      );
    }
  }

  // 2. Global switches and MPTCP sysctls.
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

  // 3. Limits, then the endpoint additions that may need them.
  if (desired.limits) {
    if (!o.limits) errors.push('the in-kernel path manager limits cannot be read on this kernel');
    else if (
      o.limits.subflows !== desired.limits.subflows ||
      o.limits.addAddrAccepted !== desired.limits.addAddrAccepted
    ) {
      steps.push({ kind: 'limits', from: o.limits, to: desired.limits });
    }
  }
  steps.push(...adds);

  // 4. Congestion control and buffers.
  const coupled = ctx.coupledCc?.find((c) => c.kernelName === desired.congestionControl);
  if (coupled && !coupled.registered && desired.congestionControl !== undefined) {
    // A coupled CC this engine ships: register it first (TCP_CONG_NON_RESTRICTED, so any
    // namespace may make it its default), then make it the default.
    if (!coupled.available) {
      errors.push(
        `congestion control "${coupled.kernelName}" cannot be loaded here: ${coupled.reason ?? 'unavailable'}`,
      );
    } else {
      steps.push({
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
        steps.push({ kind: 'sysctl', name: 'net.ipv4.tcp_congestion_control', from, to: coupled.kernelName });
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
    } else sysctl('net.ipv4.tcp_congestion_control', desired.congestionControl);
  }
  const buf = desired.buffers ?? {};
  for (const [name, t] of [
    ['net.ipv4.tcp_rmem', buf.tcpRmem],
    ['net.ipv4.tcp_wmem', buf.tcpWmem],
  ] as const) {
    const tiny = tinyBufferFields(t);
    if (tiny) warnings.push(`${name} ${tripletText(t!).replace(/\t/g, ' ')}: ${tiny}`);
  }
  if (buf.tcpRmem) sysctl('net.ipv4.tcp_rmem', tripletText(buf.tcpRmem));
  if (buf.tcpWmem) sysctl('net.ipv4.tcp_wmem', tripletText(buf.tcpWmem));
  if (buf.rmemMaxBytes !== undefined) sysctl('net.core.rmem_max', String(buf.rmemMaxBytes));
  if (buf.wmemMaxBytes !== undefined) sysctl('net.core.wmem_max', String(buf.wmemMaxBytes));

  // 5. MTUs.
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
    // Reference G14: below 1280 the kernel removes IPv6 from the interface, endpoints included.
    if (mtu < 1280 && ifc.addresses.some((a) => a.family === 'inet6')) {
      errors.push(
        `MTU ${mtu} for ${name} is below 1280: the kernel would remove its IPv6 addresses (RFC 8200 minimum)`,
      );
      continue;
    }
    steps.push({ kind: 'mtu', ifname: name, ifindex: ifc.index, from: ifc.mtuBytes, to: mtu });
  }
  return { steps, errors, warnings };
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
    default:
      return null;
  }
}
