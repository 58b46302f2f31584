// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MethodArgs } from '../../../shared/contract';
import type {
  Hop,
  ProbeProgress,
  ProbeRun,
  ScanRecord,
  SubflowCheckResult,
  TraceResult,
} from '../../../shared/path-doctor';
import { FakeApi } from '../testing/fake-api';
import { App } from '../App';
import { createStores, type Stores } from '../state/stores';
import { netInterface, overview } from '../testing/fixtures';
import { configApi, settle } from '../testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
  vi.restoreAllMocks();
});

const twoPaths = overview({
  interfaces: [
    netInterface({
      index: 1,
      name: 'lo',
      loopback: true,
      addresses: [{ family: 'inet', address: '127.0.0.1', prefixLen: 8, scope: 254 }],
    }),
    netInterface({
      index: 2,
      name: 'c0',
      addresses: [{ family: 'inet', address: '10.0.1.1', prefixLen: 24, scope: 0 }],
    }),
    netInterface({
      index: 3,
      name: 'c1',
      addresses: [{ family: 'inet', address: '10.1.1.1', prefixLen: 24, scope: 0 }],
    }),
  ],
});

const mss = { kind: 'mss', field: 'MSS', from: '1460', to: '1200', text: 'MSS rewritten 1460 → 1200' };
const nop = {
  kind: 'option-nopped',
  field: 'MP_CAPABLE',
  from: 'MP_CAPABLE v1',
  to: null,
  text: 'MP_CAPABLE replaced by NOPs',
};
const dscp = { kind: 'dscp', field: 'DSCP', from: '0', to: '10', text: 'DSCP changed 0 → 10' };
const hop = (
  ttl: number,
  address: string,
  mptcp: Hop['mptcp'],
  changes: Hop['changes'],
  fresh: Hop['changes'],
): Hop => ({
  ttl,
  address,
  rttMs: 0.03 * ttl,
  quote: { kind: 'rfc1812', transportBytes: 40, optionsVisible: true },
  mptcp,
  changes,
  newChanges: fresh,
  destination: false,
});

function trace(from: string, source: string, stripped: boolean): TraceResult {
  const p = source.split('.')[1];
  const hops: Hop[] = [
    hop(1, `10.${p}.1.2`, 'intact', [], []),
    hop(2, `10.${p}.2.2`, 'intact', [mss], [mss]),
    hop(
      3,
      `10.${p}.3.2`,
      stripped ? 'stripped' : 'intact',
      stripped ? [mss, nop] : [mss],
      stripped ? [nop] : [],
    ),
    hop(4, `10.${p}.4.2`, stripped ? 'stripped' : 'intact', stripped ? [mss, nop, dscp] : [mss, dscp], [
      dscp,
    ]),
    { ...hop(5, '10.0.5.2', stripped ? 'unknown' : 'intact', [], []), quote: null, destination: true },
  ];
  return {
    target: '10.0.5.2',
    port: 8001,
    source,
    from,
    hops,
    destination: { class: stripped ? 'tcp' : 'mptcp-v1', ttl: 5, reason: '' },
    verdict: stripped
      ? 'MP_CAPABLE is removed between hop 2 (10.0.2.2) and hop 3 (10.0.3.2) (overwritten with NOPs)'
      : 'MPTCP works on this path: the server answers with MP_CAPABLE v1',
    elapsedMs: 20,
    probesSent: 12,
  };
}

const run = (over: Partial<ProbeRun>): ProbeRun => ({
  runId: 'x-00000000',
  kind: 'trace',
  state: 'done',
  title: '',
  startedAtMs: 1_700_000_000_000,
  finishedAtMs: 1_700_000_000_500,
  summary: '',
  result: null,
  ...over,
});

const progress = (runId: string, over: Partial<ProbeProgress>): ProbeProgress => ({
  runId,
  kind: 'trace',
  state: 'running',
  done: 0,
  total: 0,
  probesSent: 0,
  message: '',
  error: null,
  ...over,
});

function record(port: number, cls: ScanRecord['class']): ScanRecord {
  return {
    target: '10.1.5.2',
    host: null,
    port,
    class: cls,
    mptcp: cls === 'mptcp-v1' ? { version: 1, checksumRequired: false, denyJoinInitialAddress: false } : null,
    join: null,
    fallback: null,
    rttMs: 0.2,
    reason: `answered as ${cls}`,
    probes: 1,
  };
}

/** The app on the Path doctor page; `runs` is what mptcp:probe:get answers. */
async function openDoctor(api: FakeApi = new FakeApi()) {
  const runs = new Map<string, ProbeRun>();
  api
    .handle('mptcp:overview:get', { ok: true, value: twoPaths })
    .handle('mptcp:probe:history', () => ({
      ok: true,
      value: [...runs.values()].map((r) => ({ ...r, result: null })),
    }))
    .handle('mptcp:probe:get', ({ runId }) => ({ ok: true, value: runs.get(runId) ?? null }));
  stores = createStores(api, undefined, { schedule: (cb) => cb() });
  render(<App stores={stores} />);
  await settle();
  act(() => screen.getByTestId('nav-path-doctor').click());
  await settle();
  return { api, runs };
}

/** Click, then let the promises the click started settle. */
async function clickAndSettle(el: HTMLElement | Promise<HTMLElement>): Promise<void> {
  const target = await el;
  await act(async () => {
    fireEvent.click(target);
    await Promise.resolve();
  });
  await settle();
}

const lastCall = <M extends 'mptcp:probe:trace' | 'mptcp:probe:scan' | 'mptcp:probe:subflows'>(
  api: FakeApi,
  m: M,
) => api.calls.filter((c) => c.method === m).at(-1)?.args as MethodArgs<M> & { runId: string };

describe('Path doctor page', () => {
  it('traces from the ticked interfaces, shows progress, then the hops side by side with the stripping hop and the new changes marked', async () => {
    const { api, runs } = await openDoctor();
    api.handle('mptcp:probe:trace', ({ runId }) => ({ ok: true, value: { runId, startedAtMs: 1 } }));
    fireEvent.change(screen.getByTestId('pd-target'), { target: { value: '10.0.5.2' } });
    fireEvent.change(screen.getByTestId('pd-port'), { target: { value: '8001' } });
    fireEvent.click(screen.getByTestId('pd-from-c0'));
    fireEvent.click(screen.getByTestId('pd-from-c1'));
    expect(screen.queryByTestId('pd-from-lo')).toBeNull();
    await clickAndSettle(screen.getByTestId('pd-run'));
    await settle();
    const args = lastCall(api, 'mptcp:probe:trace');
    expect(args).toMatchObject({ target: '10.0.5.2', port: 8001, from: ['c0', 'c1'] });
    expect(args.runId).toMatch(/^ui-[0-9a-f]{24}$/);

    act(() =>
      api.emit(
        'mptcp:probe:progress',
        progress(args.runId, { message: '4 hop answers from 2 sources', probesSent: 9 }),
      ),
    );
    expect(screen.getByTestId('pd-progress-message').textContent).toBe(
      '4 hop answers from 2 sources · 9 probes sent',
    );
    expect(screen.getByTestId<HTMLButtonElement>('pd-run').disabled).toBe(true);

    runs.set(
      args.runId,
      run({
        runId: args.runId,
        result: {
          kind: 'trace',
          traces: [trace('c0', '10.0.1.1', true), trace('c1', '10.1.1.1', false)],
          cancelled: false,
        },
      }),
    );
    act(() => api.emit('mptcp:probe:progress', progress(args.runId, { state: 'done', message: 'done' })));
    await settle();
    expect(screen.queryByTestId('pd-progress')).toBeNull();
    const verdicts = screen.getAllByTestId('trace-verdict').map((v) => v.textContent);
    expect(verdicts).toEqual([
      'c0 (10.0.1.1) MP_CAPABLE is removed between hop 2 (10.0.2.2) and hop 3 (10.0.3.2) (overwritten with NOPs)',
      'c1 (10.1.1.1) MPTCP works on this path: the server answers with MP_CAPABLE v1',
    ]);
    expect(screen.getAllByTestId('hop-column').map((c) => c.textContent)).toEqual([
      'from c0 (10.0.1.1)',
      'from c1 (10.1.1.1)',
    ]);
    const rows = screen.getAllByTestId('hop-row');
    expect(rows).toHaveLength(5);
    const [c0hop3, c1hop3] = within(rows[2]!).getAllByTestId('hop-cell');
    expect(c0hop3?.dataset.breaking).toBe('true');
    expect(c1hop3?.dataset.breaking).toBeUndefined();
    expect(within(c0hop3!).getByTestId('change-new').textContent).toBe('TCP::Option_MP_CAPABLE NOPed');
    expect(
      within(within(rows[1]!).getAllByTestId('hop-cell')[0]!).getByTestId('change-new').textContent,
    ).toBe('TCP::Option_MSS 1460→1200');
    // The run is in the history.
    expect(screen.getAllByTestId('pd-history-item')).toHaveLength(1);
  });

  it('scan: rows stream in while it runs, filter by class, export CSV, cancel', async () => {
    const { api, runs } = await openDoctor();
    api
      .handle('mptcp:probe:scan', ({ runId }) => ({ ok: true, value: { runId, startedAtMs: 1 } }))
      .handle('mptcp:probe:cancel', () => ({ ok: true, value: { cancelled: true } }));
    act(() => screen.getByTestId('pd-tool-scan').click());
    fireEvent.change(screen.getByTestId('pd-scan-targets'), { target: { value: '10.1.5.2, 10.0.5.0/30' } });
    fireEvent.change(screen.getByTestId('pd-scan-ports'), { target: { value: '8001-8003' } });
    await clickAndSettle(screen.getByTestId('pd-run'));
    await settle();
    const args = lastCall(api, 'mptcp:probe:scan');
    expect(args).toMatchObject({
      targets: ['10.1.5.2', '10.0.5.0/30'],
      ports: [8001, 8002, 8003],
      mode: 'raw',
    });
    act(() =>
      api.emit(
        'mptcp:probe:progress',
        progress(args.runId, {
          kind: 'scan',
          done: 2,
          total: 9,
          records: [record(8001, 'mptcp-v1'), record(8002, 'tcp')],
          message: '2 of 9 probed',
        }),
      ),
    );
    expect(screen.getAllByTestId('scan-row')).toHaveLength(2);
    expect(screen.getByTestId('scan-shown').textContent).toBe('2 results so far');
    await clickAndSettle(screen.getByTestId('pd-cancel'));
    expect(api.calls.filter((c) => c.method === 'mptcp:probe:cancel').at(-1)?.args).toEqual({
      runId: args.runId,
    });

    const records = [record(8001, 'mptcp-v1'), record(8002, 'tcp'), record(8003, 'closed')];
    runs.set(
      args.runId,
      run({
        runId: args.runId,
        kind: 'scan',
        state: 'cancelled',
        result: {
          kind: 'scan',
          scan: {
            records,
            summary: {
              mode: 'raw',
              targets: 3,
              ports: [8001, 8002, 8003],
              probesSent: 5,
              elapsedMs: 800,
              ratePps: 100,
              cancelled: true,
              counts: { 'mptcp-v1': 1, tcp: 1, closed: 1 },
            },
          },
        },
      }),
    );
    act(() => api.emit('mptcp:probe:progress', progress(args.runId, { kind: 'scan', state: 'cancelled' })));
    await settle();
    expect(screen.getAllByTestId('scan-row')).toHaveLength(3);
    fireEvent.change(screen.getByTestId('scan-filter-class'), { target: { value: 'mptcp-v1' } });
    expect(screen.getAllByTestId('scan-row').map((r) => r.dataset.class)).toEqual(['mptcp-v1']);
    expect(screen.getByTestId('scan-shown').textContent).toMatch(
      /^1 of 3 results · 5 probes in 0\.8 s \(raw mode\)/,
    );

    const blobs: Blob[] = [];
    const create = vi.fn((b: Blob) => {
      blobs.push(b);
      return 'blob:x';
    });
    Object.assign(URL, { createObjectURL: create, revokeObjectURL: vi.fn() });
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    fireEvent.click(screen.getByTestId('scan-export-csv'));
    const csv = await blobs[0]!.text();
    expect(csv.split('\n')[0]).toBe(
      'target,host,port,class,mptcp_version,checksum_required,deny_join_initial_address,join,fallback,rtt_ms,probes,reason',
    );
    expect(csv.trim().split('\n')).toHaveLength(2);
  });

  it('subflow check: the verdict and one row per path and per subflow', async () => {
    const { api, runs } = await openDoctor();
    api.handle('mptcp:probe:subflows', ({ runId }) => ({ ok: true, value: { runId, startedAtMs: 1 } }));
    act(() => screen.getByTestId('pd-tool-subflows').click());
    fireEvent.change(screen.getByTestId('pd-target'), { target: { value: '10.0.5.2' } });
    fireEvent.change(screen.getByTestId('pd-port'), { target: { value: '8001' } });
    fireEvent.change(screen.getByTestId('pd-per-path'), { target: { value: '2' } });
    fireEvent.change(screen.getByTestId('pd-remotes'), { target: { value: '10.1.5.2, 10.2.5.2' } });
    // Under the in-kernel path manager the switch is shown, and asked for, before the check runs.
    expect(screen.getByTestId('pd-pm-consent').textContent).toMatch(
      /Switch net\.mptcp\.path_manager from kernel to userspace .*\(about a millisecond\)/,
    );
    expect(screen.getByTestId<HTMLButtonElement>('pd-run').disabled).toBe(true);
    expect(screen.getByTestId('pd-form-problem').textContent).toBe(
      'tick the path manager switch to run the check',
    );
    fireEvent.click(screen.getByTestId('pd-allow-pm-switch'));
    await clickAndSettle(screen.getByTestId('pd-run'));
    const args = lastCall(api, 'mptcp:probe:subflows');
    expect(args).toMatchObject({
      target: '10.0.5.2',
      port: 8001,
      subflowsPerPath: 2,
      from: [],
      remotes: ['10.1.5.2', '10.2.5.2'],
      allowPmSwitch: true,
      payloadBytes: 1024 * 1024,
    });
    const sf = (
      iface: string,
      addr: string,
      outcome: SubflowCheckResult['subflows'][number]['outcome'],
      initial = false,
    ) => ({
      interface: iface,
      localAddress: addr,
      localPort: initial ? 40000 : 20000 + Math.floor(Math.random() * 1000),
      remoteAddress: '10.0.5.2',
      remotePort: 8001,
      initial,
      extra: false,
      outcome,
      reason: outcome,
      bytesSent: outcome === 'ok' ? 500_000 : 0,
      bytesReceived: outcome === 'ok' ? 400_000 : 0,
      retransmits: outcome === 'dropped' ? 3 : 0,
      rttUs: 80,
      error: outcome === 'refused' ? 'ECONNREFUSED' : null,
      resetReason: null,
    });
    const check: SubflowCheckResult = {
      target: '10.0.5.2',
      port: 8001,
      subflowsPerPath: 1,
      connection: {
        token: 1,
        initialAddress: '10.0.1.1',
        mptcp: true,
        fallback: null,
        pathManager: { before: 'kernel', switched: true },
      },
      remotes: [{ address: '10.0.5.2', port: 8001, from: 'target' }],
      payload: { bytes: 1 << 20, sent: 1 << 20, echoed: 1 << 20, intact: true, mismatchAt: null, ms: 12 },
      subflows: [sf('c0', '10.0.1.1', 'ok', true), sf('c1', '10.1.1.1', 'dropped')],
      paths: [
        {
          interface: 'c0',
          localAddress: '10.0.1.1',
          remoteAddress: '10.0.5.2',
          outcome: 'ok',
          subflows: 1,
          counts: { ok: 1 },
          verdict: 'MPTCP works from c0',
        },
        {
          interface: 'c1',
          localAddress: '10.1.1.1',
          remoteAddress: '10.0.5.2',
          outcome: 'dropped',
          subflows: 1,
          counts: { dropped: 1 },
          verdict: 'joins from c1 are dropped',
        },
      ],
      counters: { MPJoinSynTx: 1 },
      verdict:
        '1 of 2 paths carry MPTCP subflows; joins from c1 are dropped; the payload (1 MiB) came back intact',
      elapsedMs: 4000,
      cancelled: false,
    };
    runs.set(args.runId, run({ runId: args.runId, kind: 'subflows', result: { kind: 'subflows', check } }));
    act(() => api.emit('mptcp:probe:progress', progress(args.runId, { kind: 'subflows', state: 'done' })));
    await settle();
    expect(screen.getByTestId('subflows-verdict').textContent).toBe(
      '1 of 2 paths carry MPTCP subflows; the payload (1 MiB) came back intact.',
    );
    expect(screen.getByTestId('subflows-verdict').getAttribute('title')).toBe(check.verdict);
    expect(screen.getAllByTestId('path-row').map((r) => [r.dataset.interface, r.dataset.outcome])).toEqual([
      ['c0', 'ok'],
      ['c1', 'dropped'],
    ]);
    expect(screen.getAllByTestId('subflow-row')).toHaveLength(2);
    expect(screen.getByTestId('subflows-payload').textContent).toMatch(/every byte intact/);
  });

  it('a bad target keeps Run disabled with the reason; a refused start shows the engine’s error', async () => {
    const { api } = await openDoctor();
    fireEvent.change(screen.getByTestId('pd-target'), { target: { value: '224.0.0.1' } });
    expect(screen.getByTestId<HTMLButtonElement>('pd-run').disabled).toBe(true);
    expect(screen.getByTestId('pd-form-problem').textContent).toMatch(/multicast/);
    api.handle('mptcp:probe:trace', {
      ok: false,
      error: { code: 'EPERM', message: 'the probe helper did not start: raw sockets need CAP_NET_RAW' },
    });
    fireEvent.change(screen.getByTestId('pd-target'), { target: { value: '10.0.5.2' } });
    await clickAndSettle(screen.getByTestId('pd-run'));
    await settle();
    expect(screen.getByTestId('pd-error').textContent).toMatch(/EPERM.*CAP_NET_RAW/);
    expect(screen.queryByTestId('pd-progress')).toBeNull();
  });

  it('the advisor’s “Trace this path” opens the Path doctor and traces from the connection’s address', async () => {
    const api = configApi(twoPaths).handle('mptcp:advice:get', {
      ok: true,
      value: [
        {
          id: 'fallback-trace',
          severity: 'warning',
          title: '1 connection fell back to plain TCP',
          detail: '…',
          fix: null,
          trace: { target: '10.0.5.2', port: 8001, from: '10.0.1.1' },
        },
      ],
    });
    api
      .handle('mptcp:probe:trace', ({ runId }) => ({ ok: true, value: { runId, startedAtMs: 1 } }))
      .handle('mptcp:probe:history', { ok: true, value: [] });
    stores = createStores(api, undefined, { schedule: (cb) => cb() });
    render(<App stores={stores} />);
    await settle();
    act(() => screen.getByTestId('nav-configure').click());
    await settle();
    await clickAndSettle(await screen.findByTestId('advice-trace-fallback-trace'));
    await settle();
    expect(screen.getByTestId('path-doctor-page')).toBeTruthy();
    expect(lastCall(api, 'mptcp:probe:trace')).toMatchObject({
      target: '10.0.5.2',
      port: 8001,
      from: ['10.0.1.1'],
    });
    expect(screen.getByTestId<HTMLInputElement>('pd-target').value).toBe('10.0.5.2');
    expect(screen.getByTestId('pd-progress')).toBeTruthy();
  });
});
