// @vitest-environment jsdom
import { act, cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../../shared/types';
import { FakeApi } from '../testing/fake-api';
import { renderApp } from '../testing/render';
import { connection, overview, snapshot, subflow } from '../testing/fixtures';
import { AddressMatrixTable, ConnectionPaths } from './monitor/ConnectionPaths';

afterEach(() => cleanup());

/** Two subflows on c0 (one of them backup), one on c1, with the given bytes sent on each. */
function conn(sentC0a: number, sentC0b: number, sentC1: number, retransC1 = 0): Connection {
  return connection({
    subflows: [
      subflow({ localPort: 40000, ifname: 'c0', bytesSent: sentC0a, bytesReceived: 1000 }),
      subflow({ localPort: 40001, ifname: 'c0', bytesSent: sentC0b, backup: true }),
      subflow({
        localAddress: '10.0.2.2',
        localPort: 40002,
        ifname: 'c1',
        bytesSent: sentC1,
        bytesRetrans: retransC1,
      }),
    ],
  });
}

describe('Paths on the Overview', () => {
  it('shows subflows per interface, then throughput and retransmissions between two snapshots', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
    const stores = await renderApp(api);
    const t0 = snapshot().takenAtMs;
    act(() => api.emit('mptcp:connections:snapshot', snapshot({ connections: [conn(1000, 0, 2000)] })));
    const c0 = screen.getByTestId('path-row-c0');
    expect(c0.getAttribute('data-subflows')).toBe('2');
    expect(c0.textContent).toContain('1 backup');
    expect(screen.getByTestId('path-row-c1').getAttribute('data-subflows')).toBe('1');
    // One snapshot: no rate yet.
    expect(c0.getAttribute('data-sent-bytes-per-sec')).toBe('');

    // One second later: c0 sent 125,000 more bytes (1 Mbit/s), c1 100,000 with 1,000 retransmitted.
    act(() =>
      api.emit(
        'mptcp:connections:snapshot',
        snapshot({ takenAtMs: t0 + 1000, connections: [conn(101_000, 25_000, 102_000, 1000)] }),
      ),
    );
    const row0 = screen.getByTestId('path-row-c0');
    expect(row0.getAttribute('data-sent-bytes-per-sec')).toBe('125000');
    expect(row0.textContent).toContain('1 Mbit/s');
    const row1 = screen.getByTestId('path-row-c1');
    expect(row1.textContent).toContain('800 kbit/s');
    expect(row1.textContent).toContain('1.0 %');
    // The interface column of the subflow table names each subflow's interface.
    const subRows = within(screen.getByTestId('connections-table')).getAllByTestId('subflow-row');
    expect(subRows.map((r) => r.getAttribute('data-ifname'))).toEqual(['c0', 'c0', 'c1']);
    stores.dispose();
  });

  it('counts subflows without a resolved interface under unknown, last', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
    const stores = await renderApp(api);
    const c = connection({
      subflows: [subflow({ ifname: null }), subflow({ localPort: 2, ifname: 'eth0' })],
    });
    act(() => api.emit('mptcp:connections:snapshot', snapshot({ connections: [c] })));
    const rows = within(screen.getByTestId('paths-table')).getAllByRole('row').slice(1);
    expect(rows.map((r) => r.getAttribute('data-testid'))).toEqual(['path-row-eth0', 'path-row-unknown']);
    stores.dispose();
  });
});

describe('a connection’s paths in its detail', () => {
  it('puts each subflow in its local × remote cell, naming the interfaces it leaves by', () => {
    const c = connection({
      subflows: [
        subflow({ localAddress: '10.0.1.2', remoteAddress: '10.0.9.1', localPort: 1, ifname: 'c0' }),
        subflow({ localAddress: '10.0.2.2', remoteAddress: '10.0.9.1', localPort: 2, ifname: 'c0' }),
        subflow({
          localAddress: '::ffff:10.0.2.2',
          remoteAddress: '::ffff:10.0.9.2',
          localPort: 3,
          ifname: 'c1',
        }),
      ],
    });
    render(<AddressMatrixTable connection={c} />);
    const m = screen.getByTestId('address-matrix');
    expect(
      within(m)
        .getAllByRole('columnheader')
        .map((h) => h.textContent),
    ).toEqual(['local ↓ · remote →', '10.0.9.1', '10.0.9.2']);
    expect(screen.getByTestId('matrix-cell-10.0.1.2-10.0.9.1').textContent).toContain('1 subflow');
    expect(screen.getByTestId('matrix-cell-10.0.1.2-10.0.9.2').getAttribute('data-subflows')).toBe('0');
    // 10.0.2.2 belongs to c1 but its subflow to 10.0.9.1 leaves by c0: the cell says so.
    expect(screen.getByTestId('matrix-cell-10.0.2.2-10.0.9.1').textContent).toContain('c0');
    expect(screen.getByTestId('matrix-cell-10.0.2.2-10.0.9.2').textContent).toContain('c1');
  });

  it('per interface, with rates from the previous reading of the same connection', () => {
    const { rerender } = render(<ConnectionPaths connection={conn(0, 0, 0)} readAtMs={1000} />);
    expect(screen.getByTestId('conn-paths-table').textContent).toContain('c1');
    rerender(<ConnectionPaths connection={conn(12_500, 0, 0)} readAtMs={1100} />);
    // 12,500 bytes in 100 ms: 1 Mbit/s on c0.
    expect(screen.getByTestId('path-row-c0').getAttribute('data-sent-bytes-per-sec')).toBe('125000');
  });
});
