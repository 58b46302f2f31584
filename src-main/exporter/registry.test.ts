import { afterEach, describe, expect, it } from 'vitest';
import { prng, syntheticSnapshot } from '../../shared/testing/synthetic';
import type { KernelHandlers } from '../../shared/contract';
import type { Endpoint, KernelEvent } from '../../shared/types';
import { EngineService } from '../engine/service';
import { MetricsCollector } from '../engine/metrics/collector';
import { fakeBackend, sampleStatus } from '../testing/fake-backend';
import { promtoolCheckMetrics } from '../lab/exporter-process';
import { createExporterRegistry } from './registry';

const endpoint = (id: number, flags: Partial<Endpoint['flags']>): Endpoint => ({
  id,
  family: 'inet',
  address: `10.0.0.${id}`,
  port: null,
  ifindex: null,
  ifname: null,
  flags: {
    signal: false,
    subflow: false,
    backup: false,
    fullmesh: false,
    implicit: false,
    laminar: false,
    ...flags,
  },
  rawFlags: 0,
});

/** `name{labels} value` lines of an exposition, as a map (comments dropped). */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

let service: EngineService | null = null;
afterEach(async () => {
  await service?.close();
  service = null;
});

const emptySnap = syntheticSnapshot(prng(1), 0);

/** An engine whose every poll returns `snap`; resolves once the collector has folded one. */
async function setup(
  snap = emptySnap,
  perConnectionLimit: number | null = null,
  overrides: Partial<KernelHandlers> = {},
) {
  service = new EngineService(
    fakeBackend({
      ...overrides,
      'mptcp:connections:list': () => Promise.resolve(snap),
      'mptcp:endpoints:list': () =>
        Promise.resolve([endpoint(1, { signal: true }), endpoint(2, { subflow: true, backup: true })]),
      'mptcp:counters:get': () =>
        Promise.resolve({
          takenAtMs: 1,
          counters: { MPCapableSYNTX: 12, MPJoinRejected: 3, MPCurrEstab: 2 },
        }),
    }),
  );
  const collector = new MetricsCollector(service, { perConnectionLimit });
  collector.start();
  const reg = createExporterRegistry(collector, { processMetrics: false });
  for (let i = 0; i < 100 && !samples(await reg.render()).get('mptcp_exporter_polls_total'); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return { collector, reg };
}

describe('exporter registry', () => {
  it('reports host, MPTcpExt and connection metrics by Prometheus conventions', async () => {
    const snap = syntheticSnapshot(prng(3), 20, 1_700_000_000_000, 2);
    const { reg } = await setup(snap);
    const s = samples(await reg.render());
    expect(s.get('mptcp_enabled')).toBe(1);
    expect(
      s.get(
        `mptcp_info{kernel_release="${sampleStatus.kernelRelease}",path_manager="kernel",scheduler="default",congestion_control="cubic"}`,
      ),
    ).toBe(1);
    expect(s.get('mptcp_pm_limit_subflows')).toBe(2);
    expect(s.get('mptcp_endpoints')).toBe(2);
    expect(s.get('mptcp_endpoints_flagged{flag="backup"}')).toBe(1);
    expect(s.get('mptcp_endpoints_flagged{flag="fullmesh"}')).toBe(0);
    expect(s.get('mptcp_mib_total{counter="MPCapableSYNTX"}')).toBe(12);
    expect(s.get('mptcp_mib_current{counter="MPCurrEstab"}')).toBe(2);
    expect(s.has('mptcp_mib_total{counter="MPCurrEstab"}')).toBe(false);
    const byState = new Map<string, number>();
    for (const c of snap.connections) byState.set(c.state, (byState.get(c.state) ?? 0) + 1);
    for (const [state, n] of byState) expect(s.get(`mptcp_connections{state="${state}"}`)).toBe(n);
    // No interface holds the synthetic addresses: every subflow is "unknown", every byte counted.
    const sent = snap.connections.flatMap((c) => c.subflows).reduce((a, f) => a + f.bytesSent, 0);
    expect(s.get('mptcp_subflow_sent_bytes_total{interface="unknown"}')).toBe(sent);
    const backups = snap.connections.flatMap((c) => c.subflows).filter((f) => f.backup).length;
    // Synthetic backups carry an app-limited delivery-rate sample and no activity times (not idle,
    // not stalled): their health is app-limited (shared/health.ts).
    expect(s.get('mptcp_subflows{interface="unknown",backup="true",health="app-limited"}') ?? 0).toBe(
      backups,
    );
    const total = [...s.entries()]
      .filter(([k]) => k.startsWith('mptcp_subflows{'))
      .reduce((a, [, v]) => a + v, 0);
    expect(total).toBe(snap.connections.flatMap((c) => c.subflows).length);
    // Every backup x health series of the interface, zeros included: a subflow changing health
    // moves between series instead of leaving one behind (a federating Prometheus keeps a
    // vanished series' last value for 5 minutes and would count the subflow twice).
    for (const backup of ['false', 'true'])
      for (const health of ['stalled', 'idle', 'app-limited', 'active'])
        expect(s.has(`mptcp_subflows{interface="unknown",backup="${backup}",health="${health}"}`)).toBe(true);
    expect(s.get('mptcp_exporter_read_success{source="connections"}')).toBe(1);
    // Without --per-connection there is no per-connection series at all.
    expect([...s.keys()].some((k) => k.startsWith('mptcp_conn_'))).toBe(false);
  });

  it('counts kernel events and path manager actions by type', async () => {
    const { reg } = await setup();
    const ev = (kind: string): KernelEvent =>
      ({
        source: 'mptcp',
        timestampMs: 1,
        event: { kind, type: 2 },
      }) as unknown as KernelEvent;
    service?.emit('mptcp:kernel:event', ev('established'));
    service?.emit('mptcp:kernel:event', ev('established'));
    service?.emit('mptcp:kernel:event', ev('sub_established'));
    service?.emit('mptcp:engine:error', {
      source: 'events',
      code: 'EVENTS_DROPPED',
      message: 'The kernel dropped 1,204 MPTCP events',
    });
    const s = samples(await reg.render());
    expect(s.get('mptcp_kernel_events_total{source="mptcp",type="established"}')).toBe(2);
    expect(s.get('mptcp_kernel_events_total{source="mptcp",type="sub_established"}')).toBe(1);
    expect(s.get('mptcp_kernel_events_lost_total')).toBe(1204);
  });

  it('caps per-connection series at the limit, keeping the busiest connections', async () => {
    const snap = syntheticSnapshot(prng(9), 40, 1_700_000_000_000, 2);
    const { reg } = await setup(snap, 5);
    const s = samples(await reg.render());
    const tokens = [...s.keys()]
      .filter((k) => k.startsWith('mptcp_conn_info{'))
      .map((k) => Number(/token="(\d+)"/.exec(k)?.[1]));
    expect(tokens).toHaveLength(5);
    const busiest = [...snap.connections]
      .sort((a, b) => b.bytesSent + b.bytesReceived - (a.bytesSent + a.bytesReceived))
      .slice(0, 5)
      .map((c) => c.token);
    expect(new Set(tokens)).toEqual(new Set(busiest));
    expect(s.get('mptcp_exporter_per_connection_omitted')).toBe(35);
    expect([...s.keys()].filter((k) => k.startsWith('mptcp_conn_subflow_rtt_seconds{'))).toHaveLength(10);
  });

  it("reports the coupled CCs' repair counts, and nothing when bpftool cannot read them", async () => {
    const { reg } = await setup(emptySnap, null, {
      'mptcp:cc:repairs': () =>
        Promise.resolve({
          error: null,
          counts: [
            { id: 'mptcp_lia', kernelName: 'mptcp_lia', repairs: 19 },
            { id: 'mptcp_balia', kernelName: 'mptcp_balia', repairs: 0 },
          ],
        }),
    });
    const text = await reg.render();
    expect(text).toContain('# TYPE mptcp_cc_repairs_total counter');
    const s = samples(text);
    expect(s.get('mptcp_cc_repairs_total{congestion_control="mptcp_lia"}')).toBe(19);
    expect(s.get('mptcp_cc_repairs_total{congestion_control="mptcp_balia"}')).toBe(0);
    expect(s.get('mptcp_exporter_read_success{source="cc_repairs"}')).toBe(1);
    // The name, type and help as Prometheus's own linter reads them (Debian's promtool).
    const lint = await promtoolCheckMetrics(text);
    expect(lint, lint.output).toEqual({ code: 0, output: '' });
    await service?.close();

    const denied = await setup(emptySnap, null, {
      'mptcp:cc:repairs': () =>
        Promise.resolve({ error: 'bpftool cannot list the struct_ops maps here', counts: [] }),
    });
    const t = await denied.reg.render();
    expect(t).not.toContain('mptcp_cc_repairs_total');
    expect(samples(t).get('mptcp_exporter_read_success{source="cc_repairs"}')).toBe(0);
  });
});
