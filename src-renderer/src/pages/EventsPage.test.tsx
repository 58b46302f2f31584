// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { EVENTS_DROPPED_CODE } from '../../../shared/contract';
import type { KernelEvent } from '../../../shared/types';
import { FakeApi } from '../testing/fake-api';
import { App } from '../App';
import { createStores, type Stores } from '../state/stores';
import { linkEvent, mptcpEvent, overview } from '../testing/fixtures';
import { settle } from '../testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const address: KernelEvent = {
  source: 'address',
  timestampMs: T0 + 3,
  deleted: true,
  index: 2,
  family: 'inet',
  address: '10.0.1.2',
  prefixLen: 24,
};

async function open(): Promise<FakeApi> {
  const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
  stores = createStores(api, undefined, { schedule: (cb) => cb() });
  render(<App stores={stores} />);
  await settle();
  act(() => screen.getByTestId('nav-events').click());
  await settle();
  return api;
}

const kinds = () => screen.queryAllByTestId('event-row').map((r) => r.getAttribute('data-kind'));

describe('Events page', () => {
  it('shows events newest first, filters by type and token, shows unknown events raw', async () => {
    const api = await open();
    act(() => {
      api.emit('mptcp:kernel:event', mptcpEvent('created', {}, T0));
      api.emit('mptcp:kernel:event', linkEvent(T0 + 1, 'down'));
      api.emit('mptcp:kernel:event', mptcpEvent('sub_closed', { token: 0x1234, error: 110 }, T0 + 2));
      api.emit('mptcp:kernel:event', address);
      api.emit(
        'mptcp:kernel:event',
        mptcpEvent(
          'unknown',
          { type: 99, token: null, rawAttrs: { '1': 'deadbeef', '7': '0a000102' } },
          T0 + 4,
        ),
      );
    });
    expect(kinds()).toEqual(['unknown', 'address', 'sub_closed', 'link', 'created']);
    const rows = screen.getAllByTestId('event-row');
    expect(rows[0]?.textContent).toContain('type 99');
    expect(rows[0]?.textContent).toContain('1=deadbeef 7=0a000102');
    expect(rows[1]?.textContent).toContain('− 10.0.1.2/24 on eth0');
    expect(rows[3]?.textContent).toContain('eth1 down (admin down)');
    expect(rows[2]?.textContent).toContain('error 110');

    fireEvent.change(screen.getByTestId('events-filter-kind'), { target: { value: 'link' } });
    expect(kinds()).toEqual(['link']);
    fireEvent.change(screen.getByTestId('events-filter-kind'), { target: { value: '' } });
    fireEvent.change(screen.getByTestId('events-filter-token'), { target: { value: 'deadbeef' } });
    expect(kinds()).toEqual(['created']);
    fireEvent.change(screen.getByTestId('events-filter-token'), { target: { value: '0x12' } });
    expect(kinds()).toEqual(['sub_closed']);
    fireEvent.change(screen.getByTestId('events-filter-kind'), { target: { value: 'created' } });
    expect(kinds()).toEqual([]);
  });

  it('keeps at most the newest 5000 events', async () => {
    const api = await open();
    act(() => {
      for (let i = 0; i < 5200; i++) api.emit('mptcp:kernel:event', linkEvent(T0 + i, i % 2 ? 'up' : 'down'));
    });
    expect(stores?.events.size).toBe(5000);
    expect(stores?.events.list()[0]?.event.timestampMs).toBe(T0 + 5199);
    expect(stores?.events.list().at(-1)?.event.timestampMs).toBe(T0 + 200);
    expect(screen.getByTestId('events-count').textContent).toBe('5000 of 5000');
    expect(screen.getAllByTestId('event-row')).toHaveLength(500);
  });
  it('says when the host dropped events for this page, and keeps that off the connections table', async () => {
    const api = await open();
    expect(screen.queryByTestId('events-dropped')).toBeNull();
    act(() => {
      api.emit('mptcp:engine:error', {
        source: 'web-host',
        code: EVENTS_DROPPED_CODE,
        message: '12 kernel events were dropped while this page was behind',
      });
    });
    expect(screen.getByTestId('events-dropped').textContent).toContain('12 kernel events were dropped');
    expect(stores?.connections.getState().engineError).toBeNull();
  });

  it('shows configuration changes and crash recoveries as config events, with their steps', async () => {
    const api = await open();
    const step = (description: string) => ({ description, ok: true, error: null });
    const base = {
      appliedAtMs: T0,
      confirmWithinS: 15,
      revertAtMs: null,
      restored: null,
      failed: null,
      rolledBack: [],
    };
    act(() => {
      api.emit('mptcp:kernel:event', linkEvent(T0, 'up'));
      api.emit('mptcp:config:outcome', {
        ...base,
        kind: 'applied',
        reason: null,
        atMs: T0 + 1,
        revertAtMs: T0 + 15_000,
        steps: [step('Change endpoint id 2 10.0.2.2 in place: backup on')],
      });
      api.emit('mptcp:config:outcome', {
        ...base,
        kind: 'reverted',
        reason: 'deadline',
        atMs: T0 + 15_000,
        restored: true,
        steps: [step('Change endpoint id 2 10.0.2.2 in place: backup off')],
      });
      api.emit('mptcp:config:outcome', {
        ...base,
        kind: 'apply-failed',
        reason: null,
        atMs: T0 + 16_000,
        restored: true,
        steps: [step('Set path manager limits: subflows 2 → 3')],
        failed: {
          description: 'Set net.ipv4.tcp_congestion_control from cubic to reno',
          ok: false,
          error: 'EPERM: no',
        },
        rolledBack: [step('Set path manager limits: subflows 3 → 2')],
      });
      api.emit('mptcp:config:recovered', {
        kind: 'pending-reverted',
        message: 'reverted a change applied at … by MPTCP Studio pid 7, because its deadline passed',
        atMs: T0 + 17_000,
        pid: 7,
        appliedAtMs: T0,
        revertAtMs: T0 + 1000,
        restored: true,
        steps: [step('Set net.mptcp.add_addr_timeout from 60 to 120')],
      });
    });
    expect(kinds()).toEqual(['config', 'config', 'config', 'config', 'link']);
    const rows = screen.getAllByTestId('event-row');
    expect(rows.map((r) => r.querySelector('.badge')?.textContent)).toEqual([
      'config recovered',
      'config apply failed',
      'config reverted',
      'config applied',
      'link',
    ]);
    expect(rows[2]!.textContent).toContain('not confirmed within 15 s');
    expect(rows[2]!.textContent).toContain('Change endpoint id 2 10.0.2.2 in place: backup off');
    expect(rows[1]!.textContent).toContain('EPERM: no');
    expect(rows[1]!.textContent).toContain('undone: Set path manager limits: subflows 3 → 2');
    expect(rows[0]!.textContent).toContain('Crash recovery: reverted a change');
    expect(rows[0]!.textContent).toContain('Set net.mptcp.add_addr_timeout from 60 to 120');
    fireEvent.change(screen.getByTestId('events-filter-kind'), { target: { value: 'config' } });
    expect(kinds()).toEqual(['config', 'config', 'config', 'config']);
  });
  it('shows failover in words: a stall with its backoff, traffic moving to the backup, the kernel marking stale', async () => {
    const api = await open();
    const sub = (local: string, port: number, backup: boolean, ifname: string | null) => ({
      localAddress: local,
      localPort: port,
      remoteAddress: '10.0.2.1',
      remotePort: 5201,
      backup,
      ifname,
    });
    const base = {
      token: 0xabcd1234,
      subflow: null,
      from: null,
      fromState: null,
      back: false,
      backoff: null,
      noAckMs: null,
      stalledForMs: null,
      share: null,
      count: null,
    };
    const primary = sub('10.0.1.1', 40000, false, 'eth0');
    const backup = sub('10.0.3.1', 40001, true, 'wlan0');
    act(() => {
      api.emit('mptcp:failover:event', {
        ...base,
        timestampMs: T0,
        kind: 'stalled',
        subflow: primary,
        backoff: 4,
        noAckMs: 3200,
      });
      api.emit('mptcp:failover:event', {
        ...base,
        timestampMs: T0 + 1,
        kind: 'traffic-moved',
        subflow: backup,
        from: primary,
        fromState: 'stalled',
        share: 0.97,
      });
      api.emit('mptcp:failover:event', {
        ...base,
        timestampMs: T0 + 2,
        token: null,
        kind: 'kernel-stale',
        count: 1,
      });
      api.emit('mptcp:failover:event', {
        ...base,
        timestampMs: T0 + 3,
        kind: 'recovered',
        subflow: primary,
        stalledForMs: 5400,
      });
      api.emit('mptcp:kernel:event', linkEvent(T0 + 4, 'up'));
    });
    expect(kinds()).toEqual(['link', 'failover', 'failover', 'failover', 'failover']);
    const rows = screen.getAllByTestId('event-row');
    expect(rows.map((r) => r.getAttribute('data-action'))).toEqual([
      null,
      'recovered',
      'kernel-stale',
      'traffic-moved',
      'stalled',
    ]);
    expect(rows[4]!.textContent).toContain(
      'subflow 10.0.1.1:40000 → 10.0.2.1:5201 (eth0) stalled (backoff 4, no ACK for 3.2 s)',
    );
    expect(rows[3]!.textContent).toContain(
      'traffic moved to backup subflow 10.0.3.1:40001 → 10.0.2.1:5201 (wlan0) (97% of the traffic) from subflow 10.0.1.1:40000 → 10.0.2.1:5201 (eth0), stalled',
    );
    expect(rows[2]!.textContent).toContain('the kernel marked 1 subflow stale (MPTcpExt SubflowStale)');
    expect(rows[1]!.textContent).toContain(
      'subflow 10.0.1.1:40000 → 10.0.2.1:5201 (eth0) recovered after 5.4 s',
    );
    expect(rows[3]!.getAttribute('data-token')).toBe('abcd1234');
    fireEvent.change(screen.getByTestId('events-filter-kind'), { target: { value: 'failover' } });
    expect(kinds()).toEqual(['failover', 'failover', 'failover', 'failover']);
    fireEvent.change(screen.getByTestId('events-filter-token'), { target: { value: 'abcd' } });
    expect(kinds()).toEqual(['failover', 'failover', 'failover']);
  });

  it('starts with the failover events the host kept from before the page opened', async () => {
    const api = new FakeApi()
      .handle('mptcp:overview:get', { ok: true, value: overview() })
      .handle('mptcp:history:events', {
        ok: true,
        value: {
          retentionMs: 900_000,
          truncated: false,
          entries: [
            {
              name: 'mptcp:failover:event',
              atMs: T0,
              payload: {
                timestampMs: T0,
                kind: 'kernel-recover',
                token: null,
                subflow: null,
                from: null,
                fromState: null,
                back: false,
                backoff: null,
                noAckMs: null,
                stalledForMs: null,
                share: null,
                count: 2,
              },
            },
          ],
        },
      });
    stores = createStores(api, undefined, { schedule: (cb) => cb() });
    render(<App stores={stores} />);
    await settle();
    act(() => screen.getByTestId('nav-events').click());
    await settle();
    expect(kinds()).toEqual(['failover']);
    expect(screen.getByTestId('event-row').textContent).toContain(
      '2 stale subflows recovered (MPTcpExt SubflowRecover)',
    );
  });
});
