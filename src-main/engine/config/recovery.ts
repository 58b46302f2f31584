/**
 * The steps that take the live state back to the state before a plan, whatever part of the plan
 * ran: each step of the plan, last first, is undone only where the kernel shows its effect. This is
 * how an apply interrupted by a crash is undone (its journal lists the plan, not how far it got:
 * the step in flight may or may not have reached the kernel), and how a change awaiting
 * confirmation is reverted (then every step ran, and these are exactly the inverted steps).
 *
 * The comparisons use the same reads as planning (shared/plan.ts), so a step "from X to Y" is
 * undone when the live value is not X, and an added endpoint is found by what the plan asked for.
 */
import type { CcId } from '../../../shared/cc';
import { endpointSpecOf, type EndpointSpec, type Step } from '../../../shared/plan';
import {
  isOwnedRoute,
  isOwnedRule,
  routeMatches,
  rpFilterOf,
  ruleMatches,
} from '../../../shared/plan-routing';
import type { Endpoint, Overview } from '../../../shared/types';

const tripletText = (t: { minBytes: number; defaultBytes: number; maxBytes: number }): string =>
  `${t.minBytes}\t${t.defaultBytes}\t${t.maxBytes}`;

/** The live value of a sysctl a plan may write, as planConfig reads it; null when unknown. */
export function liveSysctl(o: Overview, name: string): string | null {
  const entry = o.status.mptcpSysctls.find((s) => s.name === name);
  if (entry) return entry.value;
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

const sameText = (a: string, b: string): boolean =>
  a.trim().split(/\s+/).join(' ') === b.trim().split(/\s+/).join(' ');

const FLAGS = ['signal', 'subflow', 'backup', 'fullmesh', 'laminar'] as const;

/** A live endpoint that is what `spec` asked for (id and interface only when the spec names them). */
function matchesRequest(e: Endpoint, spec: EndpointSpec): boolean {
  const f = endpointSpecOf(e).flags;
  return (
    !e.flags.implicit &&
    e.address === spec.address &&
    e.port === spec.port &&
    (spec.id === 0 || e.id === spec.id) &&
    (spec.ifindex === null || e.ifindex === spec.ifindex) &&
    FLAGS.every((k) => f[k] === spec.flags[k])
  );
}

/** A live endpoint that is exactly `spec` (what an endpoint-del removed, to be put back). */
function isExactly(e: Endpoint, spec: EndpointSpec): boolean {
  return matchesRequest(e, spec) && e.id === spec.id && e.ifindex === spec.ifindex;
}

export interface RecoveryContext {
  /** Coupled CCs registered now; unknown = re-register what a plan unregistered (idempotent). */
  registeredCc?: ReadonlySet<CcId>;
}

/**
 * The undo of `steps` (a plan, in the order it runs) from the live state `o`. A coupled CC the plan
 * registered stays registered, as on rollback (shared/plan.ts invertStep).
 */
export function recoveryPlan(o: Overview, steps: Step[], ctx: RecoveryContext = {}): Step[] {
  const undo: Step[] = [];
  const live = o.endpoints.filter((e) => !e.flags.implicit);
  /** Endpoints this undo already deletes: an endpoint is removed once. */
  const deleting = new Set<number>();
  for (const s of [...steps].reverse()) {
    switch (s.kind) {
      case 'sysctl': {
        const now = liveSysctl(o, s.name);
        if (now !== null && !sameText(now, s.from)) undo.push({ ...s, from: now, to: s.from });
        break;
      }
      case 'limits': {
        const now = o.limits;
        if (now && (now.subflows !== s.from.subflows || now.addAddrAccepted !== s.from.addAddrAccepted))
          undo.push({ kind: 'limits', from: now, to: s.from });
        break;
      }
      case 'endpoint-add': {
        const added = live.find((e) => !deleting.has(e.id) && matchesRequest(e, s.endpoint));
        if (added) {
          deleting.add(added.id);
          undo.push({ kind: 'endpoint-del', endpoint: endpointSpecOf(added) });
        }
        break;
      }
      case 'endpoint-del': {
        const present = live.some((e) => !deleting.has(e.id) && isExactly(e, s.endpoint));
        if (!present) undo.push({ kind: 'endpoint-add', endpoint: s.endpoint });
        break;
      }
      case 'endpoint-flags': {
        // The same endpoint (id and address), with flags other than before the step: set them back.
        const e = live.find(
          (x) => !deleting.has(x.id) && x.id === s.endpoint.id && x.address === s.endpoint.address,
        );
        const was = s.endpoint.flags;
        if (e && (e.flags.backup !== was.backup || e.flags.fullmesh !== was.fullmesh))
          undo.push({
            kind: 'endpoint-flags',
            endpoint: endpointSpecOf(e),
            to: { backup: was.backup, fullmesh: was.fullmesh },
          });
        break;
      }
      case 'mtu': {
        const ifc = o.interfaces.find((i) => i.index === s.ifindex);
        if (ifc && ifc.mtuBytes !== s.from) undo.push({ ...s, from: ifc.mtuBytes, to: s.from });
        break;
      }
      case 'cc-register':
        break;
      case 'cc-unregister':
        if (!ctx.registeredCc?.has(s.name)) undo.push({ ...s, kind: 'cc-register' });
        break;
      // Rules and routes: only MPTCP Studio's own (the marker), added or deleted by what the
      // kernel shows now. Walking the plan backwards deletes a rule before its routes and adds
      // routes before their rule, as planned.
      case 'rule-add':
        if (o.routing?.rules.some((r) => isOwnedRule(r) && ruleMatches(s.rule, r)))
          undo.push({ kind: 'rule-del', rule: s.rule });
        break;
      case 'rule-del':
        if (o.routing && !o.routing.rules.some((r) => isOwnedRule(r) && ruleMatches(s.rule, r)))
          undo.push({ kind: 'rule-add', rule: s.rule });
        break;
      case 'route-add':
        if (o.routing?.routes.some((r) => isOwnedRoute(r) && routeMatches(s.route, r)))
          undo.push({ kind: 'route-del', route: s.route });
        break;
      case 'route-del':
        if (o.routing && !o.routing.routes.some((r) => isOwnedRoute(r) && routeMatches(s.route, r)))
          undo.push({ kind: 'route-add', route: s.route });
        break;
    }
  }
  return undo;
}
