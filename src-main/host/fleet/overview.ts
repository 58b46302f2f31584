/**
 * The Fleet page's data, read from Prometheus: every host whose exporter Prometheus has seen in
 * the range, with its current state and history. Prometheus does the collecting and the
 * aggregation: each question is one query over all hosts (`by (instance, job)`), so the number of
 * queries does not grow with the fleet.
 */
import {
  FLEET_HISTORY_POINTS,
  FLEET_RANGE_SECONDS,
  type FleetHost,
  type FleetOverview,
  type FleetRange,
  type FleetSeries,
} from '../../../shared/fleet';
import type { PrometheusApi, PromSample, PromSeries } from './prometheus-api';

/** MPTcpExt counters that mean a connection fell back to TCP (net/mptcp/mib.c). */
export const FALLBACK_COUNTERS =
  'MPCapableFallbackACK|MPCapableFallbackSYNACK|MPFallbackTokenInit|DSSCorruptionFallback|InfiniteMapTx';
/** MPTcpExt counters that mean a subflow could not join. */
export const JOIN_FAILURE_COUNTERS =
  'MPJoinNoTokenFound|MPJoinSynAckHMacFailure|MPJoinAckHMacFailure|MPJoinRejected|MPJoinSynTxCreatSkErr|MPJoinSynTxBindErr|MPJoinSynTxConnectErr';

const key = (m: Record<string, string>): string => `${m.job ?? ''}|${m.instance ?? ''}`;

/** The host part of an exporter's `instance` (host:port, [v6]:port). */
export function instanceHost(instance: string): string {
  const m = /^\[([^\]]+)\]:\d+$/.exec(instance) ?? /^([^:]+):\d+$/.exec(instance);
  return (m?.[1] ?? instance).toLowerCase();
}

export async function readFleetOverview(
  api: PrometheusApi,
  range: FleetRange,
  /** Registered web hosts by host name (their URL's hostname), for the rows' links. */
  webUrls: Map<string, string> = new Map(),
  nowS = Date.now() / 1000,
): Promise<FleetOverview> {
  const started = performance.now();
  const rangeS = FLEET_RANGE_SECONDS[range];
  const stepS = Math.max(1, Math.round(rangeS / FLEET_HISTORY_POINTS));
  // A rate over at least a minute: with a 15 s scrape interval a shorter window may hold one sample.
  const rateWindow = `${Math.max(60, stepS)}s`;
  const errors: string[] = [];
  const vec = (expr: string): Promise<PromSample[]> =>
    api.query(expr).catch((e: Error) => {
      errors.push(`${expr}: ${e.message}`);
      return [];
    });
  const mat = (expr: string): Promise<PromSeries[]> =>
    api.queryRange(expr, nowS - rangeS, nowS, stepS).catch((e: Error) => {
      errors.push(`${expr}: ${e.message}`);
      return [];
    });
  const fallbacks = (w: string): string =>
    `sum by (instance, job) (rate(mptcp_mib_total{counter=~"${FALLBACK_COUNTERS}"}[${w}]))`;
  const joins = (w: string): string =>
    `sum by (instance, job) (rate(mptcp_mib_total{counter=~"${JOIN_FAILURE_COUNTERS}"}[${w}]))`;
  const connections = 'sum by (instance, job) (mptcp_connections)';
  // Every exporter seen in the range, with its last info (a host down now keeps its row); its
  // jobs select the `up` series (a Prometheus scrapes other exporters too).
  const known = await vec(`last_over_time(mptcp_info[${rangeS}s])`);
  const jobs = [...new Set(known.map((k) => k.metric.job ?? ''))].map((j) =>
    j.replace(/[\\.^$|?*+()[\]{}]/g, '\\\\$&'),
  );
  const upSel = `up{job=~"${jobs.join('|')}"}`;
  const [up, enabled, conns, subflows, fb, jf, hUp, hConns, hFb, hJf] = await Promise.all([
    vec(upSel),
    vec('mptcp_enabled'),
    vec(connections),
    vec('sum by (instance, job, interface) (mptcp_subflows)'),
    vec(fallbacks('5m')),
    vec(joins('5m')),
    // `up` of the exporters' jobs, kept for the known hosts below (a target that is down has no
    // mptcp_info now; a join on mptcp_info over the range at every step cost most of the page).
    mat(upSel),
    mat(connections),
    mat(fallbacks(rateWindow)),
    mat(joins(rateWindow)),
  ]);
  const byKey = <T extends { metric: Record<string, string> }>(xs: T[]): Map<string, T> =>
    new Map(xs.map((x) => [key(x.metric), x]));
  const [upK, enabledK, connsK, fbK, jfK] = [up, enabled, conns, fb, jf].map(byKey);
  const [hUpK, hConnsK, hFbK, hJfK] = [hUp, hConns, hFb, hJf].map(byKey);
  const subflowsK = new Map<string, Record<string, number>>();
  for (const s of subflows) {
    const k = key(s.metric);
    const rec = subflowsK.get(k) ?? {};
    rec[s.metric.interface ?? ''] = s.value;
    subflowsK.set(k, rec);
  }
  const num = (m: Map<string, PromSample> | undefined, k: string): number | null => m?.get(k)?.value ?? null;
  const hist = (m: Map<string, PromSeries> | undefined, k: string): FleetSeries => m?.get(k)?.values ?? [];
  const hosts: FleetHost[] = known.map((info) => {
    const k = key(info.metric);
    const instance = info.metric.instance ?? '';
    const en = num(enabledK, k);
    return {
      instance,
      job: info.metric.job ?? '',
      up: num(upK, k) === 1,
      mptcpEnabled: en === null ? null : en === 1,
      pathManager: info.metric.path_manager || null,
      scheduler: info.metric.scheduler || null,
      kernelRelease: info.metric.kernel_release || null,
      connections: num(connsK, k),
      subflowsByInterface: subflowsK.get(k) ?? {},
      fallbacksPerSec: num(fbK, k),
      joinFailuresPerSec: num(jfK, k),
      webUrl: webUrls.get(instanceHost(instance)) ?? null,
      history: {
        up: hist(hUpK, k),
        connections: hist(hConnsK, k),
        fallbacksPerSec: hist(hFbK, k),
        joinFailuresPerSec: hist(hJfK, k),
      },
    };
  });
  hosts.sort((a, b) => a.instance.localeCompare(b.instance) || a.job.localeCompare(b.job));
  return {
    prometheusUrl: api.base,
    range,
    fetchedAtMs: Date.now(),
    queryMs: performance.now() - started,
    hosts,
    errors,
  };
}
