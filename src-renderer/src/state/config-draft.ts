/**
 * The Configure form's model. The form edits a *draft* (numbers as the text the user typed), made
 * from the kernel's export. `buildDesired` turns it back into a desired config holding only the
 * fields that differ from the export, so untouched settings are never sent, and checks it with the
 * shared schema (the same rules the engine applies) so errors show per field before any call.
 */
import {
  MptcpConfigSchema,
  type DesiredEndpoint,
  type EndpointFlagsInput,
  type EndpointPolicy,
  type MptcpConfig,
  type SourcePolicy,
  type SourceRule,
} from '../../../shared/config';

export const SYSCTL_KEYS = [
  'checksumEnabled',
  'allowJoinInitialAddrPort',
  'addAddrTimeoutS',
  'closeTimeoutS',
  'staleLossCnt',
  'blackholeTimeoutS',
  'synRetransBeforeTcpFallback',
] as const;
export type SysctlKey = (typeof SYSCTL_KEYS)[number];
export const BOOLEAN_SYSCTLS: ReadonlySet<SysctlKey> = new Set([
  'checksumEnabled',
  'allowJoinInitialAddrPort',
]);

export const FLAG_NAMES = ['signal', 'subflow', 'backup', 'fullmesh', 'laminar'] as const;
export type FlagName = (typeof FLAG_NAMES)[number];

/** The in-kernel path manager holds at most 8 endpoints and caps both limits at 8. */
export const MAX_ENDPOINTS = 8;
export const MAX_LIMIT = 8;

export interface EndpointDraft {
  /** React key; stable for the row's life. */
  key: number;
  /** The kernel's id for an existing endpoint; undefined for a new row (the kernel picks). */
  id: number | undefined;
  address: string;
  port: string;
  ifname: string;
  flags: EndpointFlagsInput;
}

export interface TripletDraft {
  minBytes: string;
  defaultBytes: string;
  maxBytes: string;
}
export const TRIPLET_PARTS = ['minBytes', 'defaultBytes', 'maxBytes'] as const;

export interface ConfigDraft {
  /** null when the export did not say (the checkbox then shows the raw kernel value). */
  enabled: boolean | null;
  pathManager: string;
  scheduler: string;
  congestionControl: string;
  limits: { subflows: string; addAddrAccepted: string };
  endpoints: EndpointDraft[];
  /** A profile or preset may carry per-interface rules instead of endpoints; shown, not edited. */
  endpointPolicy: EndpointPolicy[] | null;
  /** Booleans as '1' / '0', like /proc/sys. */
  sysctls: Record<SysctlKey, string>;
  buffers: {
    tcpRmem: TripletDraft | null;
    tcpWmem: TripletDraft | null;
    rmemMaxBytes: string;
    wmemMaxBytes: string;
  };
  mtu: Record<string, string>;
  /** Source routing and rp_filter (docs/configuration.md, "Source routing"). */
  routing: {
    sourceRules: SourceRuleDraft[];
    /** A profile or preset may carry per-interface rules instead; shown, not edited. */
    sourcePolicy: SourcePolicy[] | null;
    /** net.ipv4.conf.<IF>.rp_filter by interface name (or a preset's glob): '0', '1', '2'. */
    rpFilter: Record<string, string>;
  };
}

export interface SourceRuleDraft {
  key: number;
  address: string;
  ifname: string;
  /** Empty: the plan picks a free table. */
  table: string;
  /** Empty: the main table's default gateway through ifname. */
  gateway: string;
}

/** Field errors keyed by the dotted config path (`limits.subflows`, `endpoints.2.port`). */
export type FieldErrors = Record<string, string[]>;

export interface Desired {
  /** Only the changed fields. */
  config: MptcpConfig;
  changed: boolean;
  errors: FieldErrors;
  errorCount: number;
}

let nextKey = 1;
export function newEndpointDraft(overrides: Partial<Omit<EndpointDraft, 'key'>> = {}): EndpointDraft {
  return {
    key: nextKey++,
    id: undefined,
    address: '',
    port: '',
    ifname: '',
    flags: { signal: false, subflow: false, backup: false, fullmesh: false, laminar: false },
    ...overrides,
  };
}

export function newSourceRuleDraft(overrides: Partial<Omit<SourceRuleDraft, 'key'>> = {}): SourceRuleDraft {
  return { key: nextKey++, address: '', ifname: '', table: '', gateway: '', ...overrides };
}

function emptyDraft(): ConfigDraft {
  return {
    enabled: null,
    pathManager: '',
    scheduler: '',
    congestionControl: '',
    limits: { subflows: '', addAddrAccepted: '' },
    endpoints: [],
    endpointPolicy: null,
    sysctls: Object.fromEntries(SYSCTL_KEYS.map((k) => [k, ''])) as Record<SysctlKey, string>,
    buffers: { tcpRmem: null, tcpWmem: null, rmemMaxBytes: '', wmemMaxBytes: '' },
    mtu: {},
    routing: { sourceRules: [], sourcePolicy: null, rpFilter: {} },
  };
}

const text = (v: number | boolean | undefined): string =>
  v === undefined ? '' : typeof v === 'boolean' ? (v ? '1' : '0') : String(v);

function tripletDraft(t: { minBytes: number; defaultBytes: number; maxBytes: number }): TripletDraft {
  return { minBytes: text(t.minBytes), defaultBytes: text(t.defaultBytes), maxBytes: text(t.maxBytes) };
}

/** Lay `config`'s fields over `draft` (a profile or an advisor fix on top of the current state). */
export function overlayConfig(draft: ConfigDraft, config: MptcpConfig): ConfigDraft {
  const d: ConfigDraft = {
    ...draft,
    limits: { ...draft.limits },
    sysctls: { ...draft.sysctls },
    buffers: { ...draft.buffers },
    mtu: { ...draft.mtu },
    routing: { ...draft.routing, rpFilter: { ...draft.routing.rpFilter } },
  };
  if (config.enabled !== undefined) d.enabled = config.enabled;
  if (config.pathManager !== undefined) d.pathManager = config.pathManager;
  if (config.scheduler !== undefined) d.scheduler = config.scheduler;
  if (config.congestionControl !== undefined) d.congestionControl = config.congestionControl;
  if (config.limits)
    d.limits = {
      subflows: text(config.limits.subflows),
      addAddrAccepted: text(config.limits.addAddrAccepted),
    };
  if (config.endpoints) {
    d.endpointPolicy = null;
    d.endpoints = config.endpoints.map((e) =>
      newEndpointDraft({
        id: e.id,
        address: e.address,
        port: e.port == null ? '' : String(e.port),
        ifname: e.ifname ?? '',
        flags: { ...e.flags },
      }),
    );
  }
  if (config.endpointPolicy) d.endpointPolicy = config.endpointPolicy;
  for (const k of SYSCTL_KEYS) {
    const v = config.sysctls?.[k];
    if (v !== undefined) d.sysctls[k] = text(v);
  }
  const b = config.buffers;
  if (b?.tcpRmem) d.buffers.tcpRmem = tripletDraft(b.tcpRmem);
  if (b?.tcpWmem) d.buffers.tcpWmem = tripletDraft(b.tcpWmem);
  if (b?.rmemMaxBytes !== undefined) d.buffers.rmemMaxBytes = text(b.rmemMaxBytes);
  if (b?.wmemMaxBytes !== undefined) d.buffers.wmemMaxBytes = text(b.wmemMaxBytes);
  for (const [name, mtu] of Object.entries(config.mtu ?? {})) d.mtu[name] = text(mtu);
  const r = config.routing;
  if (r?.sourceRules) {
    d.routing.sourcePolicy = null;
    d.routing.sourceRules = r.sourceRules.map((x) =>
      newSourceRuleDraft({
        address: x.address,
        ifname: x.ifname,
        table: x.table === undefined ? '' : String(x.table),
        gateway: x.gateway ?? '',
      }),
    );
  }
  if (r?.sourcePolicy) d.routing.sourcePolicy = r.sourcePolicy;
  for (const [name, v] of Object.entries(r?.rpFilter ?? {})) d.routing.rpFilter[name] = text(v);
  return d;
}

function sourceRuleKey(r: SourceRule): string {
  return JSON.stringify([r.address, r.ifname, r.table ?? null, r.gateway ?? null]);
}

export function draftFromConfig(config: MptcpConfig): ConfigDraft {
  return overlayConfig(emptyDraft(), config);
}

/** The identity of an endpoint for "did the set change?": order does not matter. */
function endpointKey(e: DesiredEndpoint): string {
  const f = e.flags;
  return JSON.stringify([
    e.address,
    e.id ?? null,
    e.port ?? null,
    e.ifname ?? null,
    f.signal,
    f.subflow,
    f.backup,
    f.fullmesh,
    f.laminar,
  ]);
}

function sameEndpointSet(a: readonly DesiredEndpoint[], b: readonly DesiredEndpoint[]): boolean {
  if (a.length !== b.length) return false;
  const ka = a.map(endpointKey).sort();
  const kb = b.map(endpointKey).sort();
  return ka.every((k, i) => k === kb[i]);
}

/** Range messages a person reads next to the field; the schema's own messages win where it has them. */
function friendlyRange(issue: { code?: string; maximum?: unknown; minimum?: unknown }): string | undefined {
  if (issue.code === 'too_big') return `must be at most ${String(issue.maximum)}`;
  if (issue.code === 'too_small') return `must be at least ${String(issue.minimum)}`;
  return undefined;
}

/** Compare the draft with the export and keep what changed; check it with the shared schema. */
export function buildDesired(base: MptcpConfig, draft: ConfigDraft): Desired {
  const errors: FieldErrors = {};
  const addError = (path: string, message: string): void => {
    (errors[path] ??= []).push(message);
  };
  /** The number typed at `path`, or undefined (with an error) when it is not a whole number. */
  const int = (s: string, path: string): number | undefined => {
    const t = s.trim();
    if (!/^-?\d+$/.test(t)) {
      addError(path, t === '' ? 'a value is required' : 'must be a whole number');
      return undefined;
    }
    return Number(t);
  };
  const config: MptcpConfig = {};

  if (draft.enabled !== null && draft.enabled !== base.enabled) config.enabled = draft.enabled;
  for (const key of ['pathManager', 'scheduler', 'congestionControl'] as const) {
    const v = draft[key].trim();
    if (v !== '' && v !== (base[key] ?? '')) config[key] = v;
  }

  const bl = base.limits;
  if (
    draft.limits.subflows !== text(bl?.subflows) ||
    draft.limits.addAddrAccepted !== text(bl?.addAddrAccepted)
  ) {
    const subflows = int(draft.limits.subflows, 'limits.subflows');
    const addAddrAccepted = int(draft.limits.addAddrAccepted, 'limits.addAddrAccepted');
    if (subflows !== undefined && addAddrAccepted !== undefined)
      config.limits = { subflows, addAddrAccepted };
  }

  if (draft.endpointPolicy) {
    config.endpointPolicy = draft.endpointPolicy;
  } else {
    const rows = draft.endpoints.map((row, i): DesiredEndpoint => {
      const e: DesiredEndpoint = { address: row.address.trim(), flags: { ...row.flags } };
      if (row.id !== undefined) e.id = row.id;
      if (row.port.trim() !== '') {
        const port = int(row.port, `endpoints.${i}.port`);
        if (port !== undefined) e.port = port;
      }
      if (row.ifname.trim() !== '') e.ifname = row.ifname.trim();
      return e;
    });
    if (!sameEndpointSet(rows, base.endpoints ?? [])) config.endpoints = rows;
  }

  const sysctls: NonNullable<MptcpConfig['sysctls']> = {};
  for (const k of SYSCTL_KEYS) {
    const was = text(base.sysctls?.[k]);
    const now = draft.sysctls[k];
    if (now === was) continue;
    if (BOOLEAN_SYSCTLS.has(k)) (sysctls as Record<string, boolean>)[k] = now === '1';
    else {
      const n = int(now, `sysctls.${k}`);
      if (n !== undefined) (sysctls as Record<string, number>)[k] = n;
    }
  }
  if (Object.keys(sysctls).length > 0) config.sysctls = sysctls;

  const buffers: NonNullable<MptcpConfig['buffers']> = {};
  for (const k of ['tcpRmem', 'tcpWmem'] as const) {
    const now = draft.buffers[k];
    const was = base.buffers?.[k];
    if (!now) continue;
    if (was && TRIPLET_PARTS.every((p) => now[p] === text(was[p]))) continue;
    const parts = TRIPLET_PARTS.map((p) => int(now[p], `buffers.${k}.${p}`));
    const [minBytes, defaultBytes, maxBytes] = parts;
    if (minBytes !== undefined && defaultBytes !== undefined && maxBytes !== undefined)
      buffers[k] = { minBytes, defaultBytes, maxBytes };
  }
  for (const k of ['rmemMaxBytes', 'wmemMaxBytes'] as const) {
    const now = draft.buffers[k];
    if (now === text(base.buffers?.[k])) continue;
    const n = int(now, `buffers.${k}`);
    if (n !== undefined) buffers[k] = n;
  }
  if (Object.keys(buffers).length > 0) config.buffers = buffers;

  const mtu: Record<string, number> = {};
  for (const [name, now] of Object.entries(draft.mtu)) {
    if (now === text(base.mtu?.[name])) continue;
    const n = int(now, `mtu.${name}`);
    if (n !== undefined) mtu[name] = n;
  }
  if (Object.keys(mtu).length > 0) config.mtu = mtu;

  const routing: NonNullable<MptcpConfig['routing']> = {};
  if (draft.routing.sourcePolicy) routing.sourcePolicy = draft.routing.sourcePolicy;
  else {
    const rows = draft.routing.sourceRules.map((row, i): SourceRule => {
      const r: SourceRule = { address: row.address.trim(), ifname: row.ifname.trim() };
      if (row.table.trim() !== '') {
        const t = int(row.table, `routing.sourceRules.${i}.table`);
        if (t !== undefined) r.table = t;
      }
      if (row.gateway.trim() !== '') r.gateway = row.gateway.trim();
      return r;
    });
    const was = (base.routing?.sourceRules ?? []).map(sourceRuleKey).sort();
    const now = rows.map(sourceRuleKey).sort();
    if (was.length !== now.length || was.some((k, i) => k !== now[i])) routing.sourceRules = rows;
  }
  const rp: Record<string, 0 | 1 | 2> = {};
  for (const [name, now] of Object.entries(draft.routing.rpFilter)) {
    if (now === text(base.routing?.rpFilter?.[name])) continue;
    if (now === '0' || now === '1' || now === '2') rp[name] = Number(now) as 0 | 1 | 2;
    else addError(`routing.rpFilter.${name}`, 'must be 0, 1 or 2');
  }
  if (Object.keys(rp).length > 0) routing.rpFilter = rp;
  if (Object.keys(routing).length > 0) config.routing = routing;

  const parsed = MptcpConfigSchema.safeParse(config, { error: friendlyRange });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String).join('.');
      addError(path === '' ? '(config)' : path, issue.message);
    }
  }
  const errorCount = Object.values(errors).reduce((n, list) => n + list.length, 0);
  return { config, changed: Object.keys(config).length > 0, errors, errorCount };
}

/** The errors at `path` and below it (`endpoints.1` collects `endpoints.1.port` too). */
export function errorsAt(errors: FieldErrors, path: string): string[] {
  return Object.entries(errors)
    .filter(([p]) => p === path || p.startsWith(`${path}.`))
    .flatMap(([, list]) => list);
}
