/**
 * The exporter's metrics as a prom-client registry, filled from one MetricsReading per scrape
 * (src-main/engine/metrics/collector.ts). Names and types follow the Prometheus naming guide
 * ("Metric and label naming"): base units (bytes, seconds), `_total` on counters, `_info` gauges
 * of value 1 for strings. Every metric is listed in docs/fleet.md.
 *
 * MPTcpExt counters keep the kernel's names (net/mptcp/mib.c, as /proc/net/netstat and `nstat`
 * print them) as the value of a `counter` label: `mptcp_mib_total{counter="MPCapableSYNTX"}`. A
 * metric name per counter would have to be snake_cased (promtool rejects camelCase names), and
 * the kernel's spelling is what a user searches for.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { MetricsCollector, MetricsReading } from '../engine/index';
import { SUBFLOW_HEALTH_STATES } from '../../shared/health';

/**
 * MPTcpExt entries that go down as well as up: gauges, not counters (MPTCP_MIB_CURRESTAB,
 * "MPCurrEstab", counts the connections established now). Any other entry is a counter.
 */
export const MIB_GAUGES = new Set(['MPCurrEstab']);

export interface ExporterRegistry {
  /** Reads the engine and renders the exposition text (scrapes are serialised). */
  render(): Promise<string>;
  contentType: string;
}

export interface RegistryOptions {
  /** Include the exporter's own process metrics (process_*). Default true. */
  processMetrics?: boolean;
}

type Kind = 'gauge' | 'counter';

/** Every metric the exporter can report: [type, help, label names]. */
export const METRICS = {
  // Host.
  mptcp_enabled: ['gauge', 'net.mptcp.enabled: 1 when new sockets may use MPTCP.', []],
  mptcp_info: [
    'gauge',
    'Kernel release, path manager (net.mptcp.path_manager), scheduler (net.mptcp.scheduler) and default congestion control (net.ipv4.tcp_congestion_control); value 1.',
    ['kernel_release', 'path_manager', 'scheduler', 'congestion_control'],
  ],
  mptcp_pm_limit_subflows: [
    'gauge',
    'In-kernel path manager limit: extra subflows per connection (MPTCP_PM_ATTR_SUBFLOWS).',
    [],
  ],
  mptcp_pm_limit_add_addr_accepted: [
    'gauge',
    'In-kernel path manager limit: ADD_ADDRs accepted per connection (MPTCP_PM_ATTR_RCV_ADD_ADDRS).',
    [],
  ],
  mptcp_endpoints: ['gauge', 'In-kernel path manager endpoints.', []],
  mptcp_endpoints_flagged: [
    'gauge',
    'In-kernel path manager endpoints carrying each flag (MPTCP_PM_ADDR_FLAG_*; an endpoint counts once per flag it has).',
    ['flag'],
  ],
  // Connections and subflows (the newest background poll).
  mptcp_connections: ['gauge', 'MPTCP connections by TCP state (sock_diag).', ['state']],
  mptcp_connections_fallback: [
    'gauge',
    'MPTCP connections that fell back to plain TCP (mptcpi_flags MPTCP_INFO_FLAG_FALLBACK).',
    [],
  ],
  mptcp_subflows: [
    'gauge',
    "MPTCP subflows by interface (the one each leaves by), backup flag (either side's) and health (active, idle, app-limited, stalled: docs/live-data.md).",
    ['interface', 'backup', 'health'],
  ],
  mptcp_subflows_unmatched: [
    'gauge',
    'TCP subflows whose connection was not in the same dump (closing races).',
    [],
  ],
  mptcp_subflow_sent_bytes_total: [
    'counter',
    'Bytes sent by MPTCP subflows through the interface (tcpi_bytes_sent, retransmissions included), summed over subflows seen since the exporter started.',
    ['interface'],
  ],
  mptcp_subflow_received_bytes_total: [
    'counter',
    'Bytes received by MPTCP subflows on the interface (tcpi_bytes_received), summed over subflows seen since the exporter started.',
    ['interface'],
  ],
  mptcp_subflow_retransmitted_bytes_total: [
    'counter',
    'Bytes retransmitted by MPTCP subflows through the interface (tcpi_bytes_retrans), summed over subflows seen since the exporter started.',
    ['interface'],
  ],
  // Kernel counters and events.
  mptcp_mib_total: [
    'counter',
    'MPTcpExt counters of /proc/net/netstat by the kernel name (label counter), as nstat prints them without the MPTcpExt prefix.',
    ['counter'],
  ],
  mptcp_mib_current: [
    'gauge',
    'MPTcpExt entries that are current values, not counters (MPCurrEstab).',
    ['counter'],
  ],
  mptcp_kernel_events_total: [
    'counter',
    'Kernel events received since the exporter started: mptcp_pm events by type (needs CAP_NET_ADMIN), link and address changes.',
    ['source', 'type'],
  ],
  mptcp_kernel_events_lost_total: [
    'counter',
    'Kernel events the kernel dropped before the exporter read them (its netlink socket overflowed).',
    [],
  ],
  mptcp_cc_repairs_total: [
    'counter',
    'Repairs of an out-of-bound ssthresh or cwnd made by a coupled congestion control since it was registered (cc_repairs in its BPF object; needs bpftool and CAP_SYS_ADMIN).',
    ['congestion_control'],
  ],
  mptcp_pm_actions_total: [
    'counter',
    "Actions of this engine's own path manager (mptcp-studio pm) by action and result.",
    ['action', 'result'],
  ],
  // The exporter itself.
  mptcp_exporter_scrape_duration_seconds: [
    'gauge',
    "This scrape's reads through the engine (status, limits, endpoints, MPTcpExt counters).",
    [],
  ],
  mptcp_exporter_read_success: [
    'gauge',
    "1 when this scrape's read of the source succeeded (connections: a poll result is at hand).",
    ['source'],
  ],
  mptcp_exporter_poll_duration_seconds: [
    'gauge',
    'The newest background connections poll: sock_diag dump and decode.',
    [],
  ],
  mptcp_exporter_last_poll_timestamp_seconds: [
    'gauge',
    'When the newest background connections poll finished (Unix time).',
    [],
  ],
  mptcp_exporter_polls_total: ['counter', 'Background connections polls folded into the metrics.', []],
  mptcp_exporter_poll_errors_total: ['counter', 'Background connections polls that failed.', []],
  mptcp_exporter_tracked_subflows: [
    'gauge',
    'Subflows whose byte counters the exporter remembers between polls.',
    [],
  ],
  // --per-connection.
  mptcp_exporter_per_connection_limit: [
    'gauge',
    'Most connections given per-connection series (--per-connection-limit).',
    [],
  ],
  mptcp_exporter_per_connection_omitted: [
    'gauge',
    'Connections left without per-connection series by the limit (the busiest are kept).',
    [],
  ],
  mptcp_conn_info: [
    'gauge',
    'One MPTCP connection: state and fallback; value 1.',
    ['token', 'local', 'remote', 'state', 'fallback'],
  ],
  mptcp_conn_sent_bytes_total: [
    'counter',
    'Bytes sent by the connection (mptcpi_bytes_sent).',
    ['token', 'local', 'remote'],
  ],
  mptcp_conn_received_bytes_total: [
    'counter',
    'Bytes received by the connection (mptcpi_bytes_received).',
    ['token', 'local', 'remote'],
  ],
  mptcp_conn_retransmitted_bytes_total: [
    'counter',
    'Bytes retransmitted by the connection (mptcpi_bytes_retrans).',
    ['token', 'local', 'remote'],
  ],
  mptcp_conn_subflow_rtt_seconds: [
    'gauge',
    'Smoothed RTT of the subflow (tcpi_rtt).',
    ['token', 'interface', 'local', 'remote', 'backup'],
  ],
  mptcp_conn_subflow_cwnd_packets: [
    'gauge',
    'Congestion window of the subflow (tcpi_snd_cwnd).',
    ['token', 'interface', 'local', 'remote', 'backup'],
  ],
  mptcp_conn_subflow_sent_bytes_total: [
    'counter',
    'Bytes sent by the subflow (tcpi_bytes_sent).',
    ['token', 'interface', 'local', 'remote', 'backup'],
  ],
  mptcp_conn_subflow_received_bytes_total: [
    'counter',
    'Bytes received by the subflow (tcpi_bytes_received).',
    ['token', 'interface', 'local', 'remote', 'backup'],
  ],
} as const satisfies Record<string, readonly [Kind, string, readonly string[]]>;

export type MetricName = keyof typeof METRICS;
type Labels = Record<string, string>;

const flag = (b: boolean): string => (b ? 'true' : 'false');

/**
 * One scrape's exposition. Each scrape builds a fresh registry holding only the metrics it has
 * values for: a read that failed leaves its metrics out (mptcp_exporter_read_success says which)
 * instead of reporting zeros, and per-connection metrics exist only with --per-connection.
 */
export function renderReading(r: MetricsReading, opts: RegistryOptions = {}): Promise<string> {
  const registry = new Registry();
  const made = new Map<MetricName, Gauge | Counter>();
  const metric = (name: MetricName): Gauge | Counter => {
    let m = made.get(name);
    if (!m) {
      const [kind, help, labels] = METRICS[name];
      const spec = { name, help, labelNames: [...labels], registers: [registry] };
      m = kind === 'gauge' ? new Gauge(spec) : new Counter(spec);
      made.set(name, m);
    }
    return m;
  };
  /** Sets a gauge, or a counter to an absolute value (the exporter holds totals, not increments). */
  const put = (name: MetricName, labels: Labels, value: number): void => {
    const m = metric(name);
    if (m instanceof Gauge) m.set(labels, value);
    else m.inc(labels, value);
  };

  if (r.status) {
    put('mptcp_enabled', {}, r.status.enabled ? 1 : 0);
    put(
      'mptcp_info',
      {
        kernel_release: r.status.kernelRelease,
        path_manager: r.status.pathManager ?? '',
        scheduler: r.status.scheduler ?? '',
        congestion_control: r.status.congestionControl.default ?? '',
      },
      1,
    );
  }
  if (r.limits) {
    put('mptcp_pm_limit_subflows', {}, r.limits.subflows);
    put('mptcp_pm_limit_add_addr_accepted', {}, r.limits.addAddrAccepted);
  }
  if (r.endpoints) {
    put('mptcp_endpoints', {}, r.endpoints.length);
    for (const f of ['signal', 'subflow', 'backup', 'fullmesh', 'implicit', 'laminar'] as const) {
      put('mptcp_endpoints_flagged', { flag: f }, r.endpoints.filter((e) => e.flags[f]).length);
    }
  }
  const c = r.connections;
  if (c) {
    // ESTABLISHED is always there, zero or not, so that a dashboard's sum() has a series on an
    // idle host.
    put('mptcp_connections', { state: 'ESTABLISHED' }, 0);
    for (const [state, n] of c.byState) put('mptcp_connections', { state }, n);
    put('mptcp_connections_fallback', {}, c.fallback);
    metric('mptcp_subflows');
    // Every backup × health series of an interface that has subflows, zeros included: a subflow
    // changing health (active ↔ app-limited ↔ idle, every few seconds) must move its count between
    // series, not make one vanish. A vanished series stays at its last value for 5 minutes where
    // staleness does not apply (a federating Prometheus ingests explicit timestamps), and sums
    // over the label then count the subflow twice.
    const counts = new Map<string, number>();
    const key = (itf: string, backup: string, health: string): string => `${itf}\0${backup}\0${health}`;
    for (const s of c.subflows) {
      const k = key(s.interface, flag(s.backup), s.health);
      counts.set(k, (counts.get(k) ?? 0) + s.count);
    }
    for (const itf of new Set(c.subflows.map((s) => s.interface))) {
      for (const backup of ['false', 'true']) {
        for (const health of SUBFLOW_HEALTH_STATES) {
          put(
            'mptcp_subflows',
            { interface: itf, backup, health },
            counts.get(key(itf, backup, health)) ?? 0,
          );
        }
      }
    }
    put('mptcp_subflows_unmatched', {}, c.orphanSubflows);
    put('mptcp_exporter_poll_duration_seconds', {}, c.pollDurationUs / 1e6);
    put('mptcp_exporter_last_poll_timestamp_seconds', {}, c.takenAtMs / 1000);
  }
  for (const [itf, b] of r.interfaceBytes) {
    put('mptcp_subflow_sent_bytes_total', { interface: itf }, b.sentBytes);
    put('mptcp_subflow_received_bytes_total', { interface: itf }, b.receivedBytes);
    put('mptcp_subflow_retransmitted_bytes_total', { interface: itf }, b.retransmittedBytes);
  }
  if (r.counters) {
    for (const [name, value] of Object.entries(r.counters.counters)) {
      put(MIB_GAUGES.has(name) ? 'mptcp_mib_current' : 'mptcp_mib_total', { counter: name }, value);
    }
  }
  for (const [key, n] of r.kernelEvents) {
    const [source = '', type = ''] = key.split('|');
    put('mptcp_kernel_events_total', { source, type }, n);
  }
  put('mptcp_kernel_events_lost_total', {}, r.kernelEventsLost);
  if (r.ccRepairs) {
    metric('mptcp_cc_repairs_total');
    for (const c of r.ccRepairs)
      put('mptcp_cc_repairs_total', { congestion_control: c.kernelName }, c.repairs);
  }
  for (const [key, n] of r.pmActions) {
    const [action = '', result = ''] = key.split('|');
    put('mptcp_pm_actions_total', { action, result }, n);
  }
  for (const [source, ok] of r.success) put('mptcp_exporter_read_success', { source }, ok ? 1 : 0);
  put('mptcp_exporter_polls_total', {}, r.polls);
  put('mptcp_exporter_poll_errors_total', {}, r.pollErrors);
  put('mptcp_exporter_tracked_subflows', {}, r.trackedSubflows);
  put('mptcp_exporter_scrape_duration_seconds', {}, r.readDurationSeconds);
  const pc = r.perConnection;
  if (pc) {
    put('mptcp_exporter_per_connection_limit', {}, pc.limit);
    put('mptcp_exporter_per_connection_omitted', {}, pc.omitted);
    for (const conn of pc.connections) {
      const l = { token: String(conn.token), local: conn.local, remote: conn.remote };
      put('mptcp_conn_info', { ...l, state: conn.state, fallback: flag(conn.fallback) }, 1);
      put('mptcp_conn_sent_bytes_total', l, conn.sentBytes);
      put('mptcp_conn_received_bytes_total', l, conn.receivedBytes);
      put('mptcp_conn_retransmitted_bytes_total', l, conn.retransmittedBytes);
      for (const s of conn.subflows) {
        const sl = {
          token: l.token,
          interface: s.interface,
          local: s.local,
          remote: s.remote,
          backup: flag(s.backup),
        };
        put('mptcp_conn_subflow_rtt_seconds', sl, s.rttUs / 1e6);
        put('mptcp_conn_subflow_cwnd_packets', sl, s.cwndPkts);
        put('mptcp_conn_subflow_sent_bytes_total', sl, s.sentBytes);
        put('mptcp_conn_subflow_received_bytes_total', sl, s.receivedBytes);
      }
    }
  }
  if (opts.processMetrics !== false) addProcessMetrics(registry);
  return registry.metrics();
}

const processStartSeconds = Math.round(Date.now() / 1000 - process.uptime());

/**
 * The standard process metrics of the Prometheus client library guidelines, by hand:
 * prom-client's collectDefaultMetrics() adds gauges named *_total that promtool rejects.
 */
function addProcessMetrics(registry: Registry): void {
  const registers = [registry];
  new Gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', registers }).set(
    process.memoryUsage.rss(),
  );
  const cpu = process.cpuUsage();
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
  }).inc((cpu.user + cpu.system) / 1e6);
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    registers,
  }).set(processStartSeconds);
}

export function createExporterRegistry(
  collector: MetricsCollector,
  opts: RegistryOptions = {},
): ExporterRegistry {
  // One scrape at a time: two Prometheus servers scraping together get two consistent readings.
  let tail: Promise<unknown> = Promise.resolve();
  const render = (): Promise<string> => {
    const p = tail.then(async () => renderReading(await collector.read(), opts));
    tail = p.catch(() => undefined);
    return p;
  };
  return { render, contentType: Registry.PROMETHEUS_CONTENT_TYPE };
}
