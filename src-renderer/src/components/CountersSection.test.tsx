// @vitest-environment jsdom
import { act, cleanup, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeApi } from '../testing/fake-api';
import { renderApp } from '../testing/render';
import { linkEvent, overview } from '../testing/fixtures';
import { headerLine } from '../state/monitor/recording';

afterEach(() => cleanup());

describe('MPTCP counters on the Overview', () => {
  it('calls out the counters that point at a problem and lists every nonzero one', async () => {
    const api = new FakeApi()
      .handle('mptcp:overview:get', { ok: true, value: overview() })
      .handle('mptcp:counters:get', {
        ok: true,
        value: {
          takenAtMs: 1,
          counters: { MPCapableSYNTX: 5, MPJoinRejected: 3, MPCapableFallbackACK: 0, SomeFutureCounter: 2 },
        },
      });
    const stores = await renderApp(api);
    const card = screen.getByTestId('overview-counters');
    expect(card.textContent).toContain('3 of 4 nonzero');
    expect(screen.getByTestId('counter-alarms').textContent).toContain('MP_JOINs refused');
    expect(screen.getByTestId('counter-alarms').textContent).not.toContain('fell back');
    expect(card.textContent).toContain('SomeFutureCounter');
    expect(card.textContent).toContain('Collecting samples');

    // Live: the host's samples move the counters and the rate chart appears.
    act(() => {
      api.emit('mptcp:counters:sample', { takenAtMs: 2, prevTakenAtMs: 1, changed: { MPJoinRejected: 4 } });
      api.emit('mptcp:counters:sample', {
        takenAtMs: 1002,
        prevTakenAtMs: 2,
        changed: { MPJoinRejected: 6 },
      });
    });
    expect(screen.getByTestId('counter-alarms').textContent).toContain('6 MP_JOINs refused');
    expect(screen.getByTestId('counter-rates-chart').getAttribute('data-points')).toBe('2');
    stores.dispose();
  });

  it('replays the counters of a recording, and says so', async () => {
    const api = new FakeApi()
      .handle('mptcp:overview:get', { ok: true, value: overview() })
      .handle('mptcp:counters:get', { ok: true, value: { takenAtMs: 1, counters: { MPJoinRejected: 1 } } });
    const stores = await renderApp(api);
    expect(screen.getByTestId('overview-counters').textContent).toContain('live, about once a second');
    const line = (t: number, rejected: number): string =>
      JSON.stringify({ t, type: 'counters', data: { takenAtMs: t, counters: { MPJoinRejected: rejected } } });
    const event = JSON.stringify({ t: 500, type: 'event', data: linkEvent(500, 'down') });
    const text = [headerLine(500), event, line(1000, 40), line(1200, 47)].join('\n');
    act(() => {
      stores.monitor.getState().openRecording('lab.ndjson', text);
    });
    // Before its first counters line, the replay says it has none (yet).
    expect(screen.getByTestId('counters-not-recorded')).toBeTruthy();
    await act(async () => {
      await new Promise((r) => setTimeout(r, 900));
    });
    const card = screen.getByTestId('overview-counters');
    expect(card.textContent).toContain('replayed from the recording');
    expect(screen.queryByTestId('counters-not-recorded')).toBeNull();
    expect(screen.getByTestId('counter-alarms').textContent).toContain('47 MP_JOINs refused');
    // A live sample while replaying does not get in.
    act(() => {
      api.emit('mptcp:counters:sample', {
        takenAtMs: 5000,
        prevTakenAtMs: null,
        changed: { MPJoinRejected: 900 },
      });
    });
    expect(screen.getByTestId('counter-alarms').textContent).toContain('47 MP_JOINs refused');
    stores.dispose();
  });

  it('shows a failed read instead of an empty card', async () => {
    const api = new FakeApi()
      .handle('mptcp:overview:get', { ok: true, value: overview() })
      .handle('mptcp:counters:get', {
        ok: false,
        error: { code: 'EACCES', message: 'cannot read /proc/net/netstat' },
      });
    const stores = await renderApp(api);
    expect(screen.getByTestId('overview-counters').textContent).toContain('cannot read /proc/net/netstat');
    stores.dispose();
  });
});

describe('stale subflows on the Overview', () => {
  it('charts the rates of SubflowStale and SubflowRecover from the host samples', async () => {
    const api = new FakeApi()
      .handle('mptcp:overview:get', { ok: true, value: overview() })
      .handle('mptcp:counters:get', {
        ok: true,
        value: { takenAtMs: 1000, counters: { SubflowStale: 2, SubflowRecover: 2, MPJoinSynRx: 1 } },
      });
    const stores = await renderApp(api);
    expect(screen.queryByTestId('stale-recover-chart')).toBeNull(); // one reading: no rate yet
    act(() => {
      // A link goes down: 3 subflows marked stale in one second; up again: 2 recover.
      api.emit('mptcp:counters:sample', {
        takenAtMs: 2000,
        prevTakenAtMs: 1000,
        changed: { SubflowStale: 5 },
      });
      api.emit('mptcp:counters:sample', {
        takenAtMs: 3000,
        prevTakenAtMs: 2000,
        changed: { MPJoinSynRx: 2 },
      });
      api.emit('mptcp:counters:sample', {
        takenAtMs: 4000,
        prevTakenAtMs: 3000,
        changed: { SubflowRecover: 4 },
      });
    });
    const chart = screen.getByTestId('stale-recover-chart');
    expect(chart.getAttribute('data-points')).toBe('3');
    expect(chart.getAttribute('data-stale-samples')).toBe('1');
    expect(chart.getAttribute('data-recover-samples')).toBe('1');
    expect(chart.textContent).toContain('SubflowStale / SubflowRecover per second');
    expect(stores.counters.getState().history.map((p) => [p.stalePerSec, p.recoverPerSec])).toEqual([
      [3, 0],
      [0, 0],
      [0, 2],
    ]);
    stores.dispose();
  });
});
