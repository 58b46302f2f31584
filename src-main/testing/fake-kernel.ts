/**
 * The Kernel (src-main/engine/kernel.ts) in memory, for unit tests: reads answer from `state`,
 * the writer changes it (with the real allow-list for sysctls, config/writer.ts sysctlPath, and the
 * kernel's refusals for duplicate or unknown endpoints), userspace-PM commands are recorded, and
 * tests push address changes, MPTCP events and losses as the kernel would. `failNext` makes the
 * next call of an operation fail, as the kernel refusing it.
 */
import type { EndpointSpec, InPlaceFlags } from '../../shared/plan';
import { STUDIO_RTPROT } from '../../shared/config';
import { routeMatches, rpFilterOf, ruleMatches } from '../../shared/plan-routing';
import { FR_ACT_TO_TBL, type RoutingState } from '../../shared/routing';
import { ApiFailure } from '../../shared/result';
import type {
  Connection,
  Endpoint,
  KernelStatus,
  Limits,
  MptcpCounters,
  NetInterface,
} from '../../shared/types';
import { sysctlPath } from '../engine/config/writer';
import type { AddressChange, Kernel, KernelReads, KernelWriter, PmCommands } from '../engine/kernel';
import type { PmEvent } from '../engine/mptcp-pm/events';
import type {
  AnnounceSpec,
  SubflowCreateSpec,
  SubflowDestroySpec,
  SubflowPrioritySpec,
} from '../engine/mptcp-pm/userspace';
import { NetlinkError } from '../engine/netlink/core';
import type { EventsLost } from '../engine/netlink/event-reader';
import type { NetnsIdentity } from '../engine/netns-identity';
import type { DecodedAddress, DecodedLink } from '../engine/rtnl/interfaces';
import type { DecodedRoute } from '../engine/rtnl/route';
import { sampleStatus } from './fake-backend';

export interface FakeKernelState {
  status: KernelStatus;
  interfaces: NetInterface[];
  links: DecodedLink[];
  addresses: DecodedAddress[];
  endpoints: Endpoint[];
  limits: Limits;
  connections: Connection[];
  /** GET_ADDR by token; a token missing here answers EINVAL (a connection of the in-kernel PM). */
  connectionAddresses: Map<number, Endpoint[]>;
  counters: Record<string, number>;
  sysctls: Map<string, string>;
  mtu: Map<number, number>;
  registeredCcs: Set<string>;
  identity: NetnsIdentity;
  /** Answers of route lookups (`ip route get DST from SRC`) by `${src}|${dst}`; others: ENETUNREACH. */
  routes: Map<string, DecodedRoute>;
  /** Rules, the plan's routes and rp_filter (reads.routing); the writer's rule/route steps change it. */
  routing: RoutingState;
}

/** What the userspace path manager sent, by command. */
export interface SentPmCommands {
  creates: SubflowCreateSpec[];
  destroys: SubflowDestroySpec[];
  announces: AnnounceSpec[];
  removes: { token: number; localId: number }[];
  priorities: SubflowPrioritySpec[];
}

type Operation = keyof KernelWriter | keyof PmCommands;

/** The kernel's answer to GET_ADDR by token for a connection of the in-kernel path manager. */
const EINVAL = 22;
/** The kernel's answer to a route lookup without a route. */
const ENETUNREACH = 101;

export class FakeKernel implements Kernel {
  readonly state: FakeKernelState;
  readonly sent: SentPmCommands = {
    creates: [],
    destroys: [],
    announces: [],
    removes: [],
    priorities: [],
  };
  /** Every writer and PM operation, in order, by name. */
  readonly calls: Operation[] = [];
  readonly reads: KernelReads;
  readonly writer: KernelWriter;
  readonly pm: PmCommands;
  closed = false;
  private readonly failures = new Map<Operation, Error>();
  private readonly addressListeners = new Set<(c: AddressChange) => void>();
  private readonly eventListeners = new Set<(ev: PmEvent) => void>();
  private readonly lostListeners = new Set<(l: EventsLost) => void>();

  constructor(state: Partial<FakeKernelState> = {}) {
    this.state = {
      status: sampleStatus,
      interfaces: [],
      links: [],
      addresses: [],
      endpoints: [],
      limits: { subflows: 2, addAddrAccepted: 0 },
      connections: [],
      connectionAddresses: new Map(),
      counters: {},
      sysctls: new Map(),
      mtu: new Map(),
      registeredCcs: new Set(),
      identity: { ino: 4026531840, cookie: '1', bootId: 'boot', key: '4026531840-1' },
      routes: new Map(),
      routing: { rules: [], routes: [], rpFilter: { all: 0, byIfname: {}, writable: true } },
      ...state,
    };
    const s = this.state;
    this.reads = {
      status: () => Promise.resolve(s.status),
      interfaces: () => Promise.resolve(s.interfaces),
      linksAndAddresses: () => Promise.resolve({ links: [...s.links], addresses: [...s.addresses] }),
      endpoints: () => Promise.resolve([...s.endpoints].sort((x, y) => x.id - y.id)),
      limits: () => Promise.resolve({ ...s.limits }),
      connections: () =>
        Promise.resolve({
          takenAtMs: Date.now(),
          pollDurationUs: 1,
          connections: [...s.connections],
          orphanSubflows: 0,
        }),
      connection: (token) => Promise.resolve(s.connections.find((c) => c.token === token) ?? null),
      connectionAddresses: (token) => {
        const list = s.connectionAddresses.get(token);
        return list
          ? Promise.resolve([...list])
          : Promise.reject(new NetlinkError(EINVAL, `list local addresses of connection ${token}`));
      },
      counters: (): Promise<MptcpCounters> =>
        Promise.resolve({ takenAtMs: Date.now(), counters: { ...s.counters } }),
      identity: () => Promise.resolve(s.identity),
      routing: () => Promise.resolve(structuredClone(s.routing)),
      route: (q) => {
        const r = s.routes.get(`${q.src}|${q.dst}`);
        return r
          ? Promise.resolve({ ...r })
          : Promise.reject(new NetlinkError(ENETUNREACH, `route lookup ${q.dst}`));
      },
    };
    this.writer = {
      writeSysctl: (name, value) =>
        this.op('writeSysctl', () => {
          sysctlPath(name); // the writer's allow-list: EPERM for anything else
          s.sysctls.set(name, value);
          const rp = rpFilterOf(name);
          if (rp !== null) s.routing.rpFilter.byIfname[rp] = Number(value);
        }),
      setLimits: (subflows, addAddrAccepted) =>
        this.op('setLimits', () => void (s.limits = { subflows, addAddrAccepted })),
      addEndpoint: (spec: EndpointSpec) => this.op('addEndpoint', () => this.addEndpoint(spec)),
      delEndpoint: (id) =>
        this.op('delEndpoint', () => {
          const i = s.endpoints.findIndex((e) => e.id === id);
          if (i < 0) throw new ApiFailure('EINVAL', `endpoint id ${id}: address not found`);
          s.endpoints.splice(i, 1);
        }),
      setEndpointFlags: (id, flags: InPlaceFlags) =>
        this.op('setEndpointFlags', () => {
          const e = s.endpoints.find((x) => x.id === id);
          if (!e) throw new ApiFailure('EINVAL', `endpoint id ${id}: address not found`);
          e.flags = { ...e.flags, backup: flags.backup, fullmesh: flags.fullmesh };
        }),
      setMtu: (ifindex, mtuBytes) => this.op('setMtu', () => void s.mtu.set(ifindex, mtuBytes)),
      registerCc: (name) => this.op('registerCc', () => void s.registeredCcs.add(name)),
      unregisterCc: (name) => this.op('unregisterCc', () => void s.registeredCcs.delete(name)),
      // As the kernel: EEXIST for a duplicate, ENOENT for a delete that matches nothing.
      addRule: (spec) =>
        this.op('addRule', () => {
          if (s.routing.rules.some((r) => r.protocol === STUDIO_RTPROT && ruleMatches(spec, r)))
            throw new ApiFailure('EEXIST', 'rule exists');
          s.routing.rules.push({
            ...spec,
            dst: null,
            dstLen: 0,
            action: FR_ACT_TO_TBL,
            protocol: STUDIO_RTPROT,
            iifname: null,
            oifname: null,
            fwmark: null,
          });
        }),
      delRule: (spec) =>
        this.op('delRule', () => {
          const i = s.routing.rules.findIndex((r) => r.protocol === STUDIO_RTPROT && ruleMatches(spec, r));
          if (i < 0) throw new ApiFailure('ENOENT', 'no such rule');
          s.routing.rules.splice(i, 1);
        }),
      addRoute: (spec) =>
        this.op('addRoute', () => {
          if (s.routing.routes.some((r) => r.protocol === STUDIO_RTPROT && routeMatches(spec, r)))
            throw new ApiFailure('EEXIST', 'route exists');
          s.routing.routes.push({ ...spec, protocol: STUDIO_RTPROT, type: 1, metric: null });
        }),
      delRoute: (spec) =>
        this.op('delRoute', () => {
          const i = s.routing.routes.findIndex((r) => r.protocol === STUDIO_RTPROT && routeMatches(spec, r));
          if (i < 0) throw new ApiFailure('ENOENT', 'no such route');
          s.routing.routes.splice(i, 1);
        }),
    };
    this.pm = {
      subflowCreate: (spec) => this.op('subflowCreate', () => void this.sent.creates.push(spec)),
      subflowDestroy: (spec) => this.op('subflowDestroy', () => void this.sent.destroys.push(spec)),
      announce: (spec) => this.op('announce', () => void this.sent.announces.push(spec)),
      remove: (spec) => this.op('remove', () => void this.sent.removes.push(spec)),
      subflowPriority: (spec) => this.op('subflowPriority', () => void this.sent.priorities.push(spec)),
    };
  }

  /** The next call of `op` fails with `error` (default: the kernel answering EINVAL). */
  failNext(
    op: Operation,
    error: Error = new ApiFailure('EINVAL', `${op}: the kernel answered EINVAL`),
  ): void {
    this.failures.set(op, error);
  }

  watchAddresses(onChange: (change: AddressChange) => void): () => void {
    this.addressListeners.add(onChange);
    return () => this.addressListeners.delete(onChange);
  }

  watchMptcpEvents(onEvent: (ev: PmEvent) => void): ReturnType<Kernel['watchMptcpEvents']> {
    this.eventListeners.add(onEvent);
    const lost = this.lostListeners;
    return Promise.resolve({
      onLost: (listener: (l: EventsLost) => void) => {
        lost.add(listener);
        return () => lost.delete(listener);
      },
      close: () => this.eventListeners.delete(onEvent),
    });
  }

  /** An rtnetlink notification, as the kernel sends one after a link or address change. */
  emitAddressChange(change: AddressChange): void {
    for (const l of this.addressListeners) l(change);
  }

  /** An mptcp_pm event. */
  emitMptcpEvent(ev: PmEvent): void {
    for (const l of this.eventListeners) l(ev);
  }

  /** Events lost (ENOBUFS). */
  emitLost(lost: EventsLost): void {
    for (const l of this.lostListeners) l(lost);
  }

  /** Subscriptions still open (address watchers, event watchers). */
  get watchers(): { addresses: number; events: number } {
    return { addresses: this.addressListeners.size, events: this.eventListeners.size };
  }

  close(): void {
    this.closed = true;
  }

  private op<T>(name: Operation, change: () => T): Promise<T> {
    this.calls.push(name);
    const failure = this.failures.get(name);
    if (failure) {
      this.failures.delete(name);
      return Promise.reject(failure);
    }
    try {
      return Promise.resolve(change());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private addEndpoint(spec: EndpointSpec): number {
    const eps = this.state.endpoints;
    if (eps.some((e) => e.address === spec.address && e.port === spec.port))
      throw new ApiFailure('EEXIST', `endpoint ${spec.address} exists`);
    if (eps.length >= 8) throw new ApiFailure('ERANGE', 'the in-kernel path manager holds 8 endpoints');
    let id = spec.id;
    if (id === 0) for (id = 1; eps.some((e) => e.id === id); id++);
    eps.push({
      id,
      family: spec.family,
      address: spec.address,
      port: spec.port,
      ifindex: spec.ifindex,
      ifname: spec.ifname,
      flags: { ...spec.flags, implicit: false },
      rawFlags: 0,
    });
    return id;
  }
}
