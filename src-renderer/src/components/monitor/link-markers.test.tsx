// @vitest-environment jsdom
/**
 * Link events of a connection's own interfaces on its charts: which interfaces are its own, which
 * link events are marked (state changes only), and the markers drawn with their words.
 */
import { cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { KernelEvent } from '../../../../shared/types';
import { EventLog } from '../../state/monitor/event-log';
import { linkEvent, mptcpEvent } from '../../testing/fixtures';
import { connectionIfnames } from './ConnectionDetail';
import { MetricChart } from './MetricChart';

afterEach(cleanup);

const T0 = 1_780_000_000_000;
const TOKEN = 0xdeadbeef;

describe('link markers on a connection’s charts', () => {
  it('its interfaces: each subflow’s resolved interface, and the one holding each charted local address', () => {
    const interfaces = [
      {
        name: 'eth0',
        addresses: [{ family: 'inet' as const, address: '10.0.1.1', prefixLen: 24, scope: 0 }],
      },
      {
        name: 'wlan0',
        addresses: [{ family: 'inet' as const, address: '10.0.3.1', prefixLen: 24, scope: 0 }],
      },
      {
        name: 'eth9',
        addresses: [{ family: 'inet' as const, address: '10.0.9.1', prefixLen: 24, scope: 0 }],
      },
    ];
    const subflows = [{ ifname: 'eth0' }, { ifname: null }];
    // wlan0's subflow has closed (its link went down): still charted, so still marked.
    expect([...connectionIfnames({ subflows }, ['10.0.1.1', '10.0.3.1'], interfaces)].sort()).toEqual([
      'eth0',
      'wlan0',
    ]);
    expect([...connectionIfnames(null, [], interfaces)]).toEqual([]);
  });

  it('marks the links of its interfaces when they go down or up, not other links or repeats', () => {
    const log = new EventLog(100, (cb) => cb());
    log.push(linkEvent(T0, 'up', 'wlan0')); // before the window: the state it starts from
    log.push(mptcpEvent('sub_established', { token: TOKEN }, T0 + 1000));
    log.push(linkEvent(T0 + 2000, 'down', 'wlan0'));
    log.push(linkEvent(T0 + 2100, 'down', 'wlan0')); // another flag changed: still down
    log.push(linkEvent(T0 + 2200, 'down', 'eth5')); // not this connection's
    log.push(linkEvent(T0 + 6000, 'up', 'wlan0'));
    const marked = log.markers(TOKEN, T0 + 500, T0 + 10_000, new Set(['wlan0', 'eth0']));
    expect(
      marked.map((e) => (e.source === 'link' ? `${e.name} ${e.usable ? 'up' : 'down'}` : e.source)),
    ).toEqual(['mptcp', 'wlan0 down', 'wlan0 up']);
    // Without interfaces, only its MPTCP events (as before).
    expect(log.markers(TOKEN, T0, T0 + 10_000).map((e) => e.source)).toEqual(['mptcp']);
  });

  it('draws them on the subflow chart with the interface’s name', () => {
    const markers: KernelEvent[] = [
      linkEvent(T0 + 20_000, 'down', 'wlan0'),
      linkEvent(T0 + 40_000, 'up', 'wlan0'),
    ];
    const { container } = render(
      <MetricChart
        testId="chart-rtt"
        title="RTT"
        unit="ms"
        metric="rttMs"
        series={[]}
        fromMs={T0}
        toMs={T0 + 60_000}
        markers={markers}
      />,
    );
    const drawn = [...container.querySelectorAll('.event-marker')];
    expect(drawn.map((m) => [m.getAttribute('data-kind'), m.textContent])).toEqual([
      ['link', 'wlan0 down'],
      ['link', 'wlan0 up'],
    ]);
    expect(drawn[0]!.querySelector('line')?.getAttribute('stroke')).not.toBe(
      drawn[1]!.querySelector('line')?.getAttribute('stroke'),
    );
  });
});
