// @vitest-environment jsdom
import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Stores } from '../../state/stores';
import { overview } from '../../testing/fixtures';
import { configApi, renderApp, settle } from '../../testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

const byTestId = (id: string) => screen.getByTestId(id);

async function click(el: HTMLElement): Promise<void> {
  act(() => el.click());
  await settle();
}

function change(el: HTMLElement, value: string): void {
  act(() => {
    fireEvent.change(el, { target: { value } });
  });
}

/** The fixture host with its routing read: eth0's gateway in main, rp_filter strict on both. */
const routed = () =>
  overview({
    routing: {
      rules: [],
      routes: [
        {
          family: 'inet',
          table: 254,
          dst: null,
          dstLen: 0,
          gateway: '10.0.1.1',
          ifindex: 2,
          ifname: 'eth0',
          prefsrc: null,
          protocol: 3,
          scope: 0,
          type: 1,
          metric: null,
        },
      ],
      rpFilter: { all: 0, byIfname: { lo: 0, eth0: 1, eth1: 1 }, writable: true },
    },
  });

describe('Source routing on the Configure page', () => {
  it('adds a rule per address from the live interfaces and shows its ip rule / ip route steps in the plan', async () => {
    const api = configApi(routed());
    stores = await renderApp(api, 'configure');
    expect(byTestId('cfg-routing').textContent).toContain('No source rules.');
    await click(byTestId('cfg-source-rule-all'));
    const rows = screen.getAllByTestId('cfg-source-rule');
    // eth1 is down: no rule is offered for its address.
    expect(rows.map((r) => within(r).getByTestId<HTMLInputElement>('source-rule-address').value)).toEqual([
      '10.0.1.2',
    ]);
    expect(within(rows[0]!).getByTestId<HTMLSelectElement>('source-rule-ifname').value).toBe('eth0');
    change(byTestId('cfg-rp-filter-eth0'), '2');
    await click(byTestId('cfg-review'));
    const shell = byTestId('plan-shell').textContent ?? '';
    expect(shell).toContain('ip route add default via 10.0.1.1 dev eth0 table 10000 proto 77');
    expect(shell).toContain('ip rule add from 10.0.1.2 lookup 10000 priority 10000 protocol 77');
    expect(shell).toContain('sysctl -w net.ipv4.conf.eth0.rp_filter=2');
    const steps = within(byTestId('plan-steps')).getAllByRole('listitem');
    expect(steps.map((s) => s.dataset.kind)).toEqual(['route-add', 'route-add', 'rule-add', 'sysctl']);
  });

  it('shows a bad table inline and does not ask for a plan; a rule through a down interface is refused', async () => {
    const api = configApi(routed());
    stores = await renderApp(api, 'configure');
    await click(byTestId('cfg-source-rule-add'));
    change(byTestId('source-rule-ifname'), 'eth1');
    change(byTestId('source-rule-table'), '254');
    expect(byTestId('source-rule-errors').textContent).toContain('must be in 10000..10999');
    expect((byTestId('cfg-review') as HTMLButtonElement).disabled).toBe(true);
    change(byTestId('source-rule-table'), '');
    await click(byTestId('cfg-review'));
    expect(byTestId('plan-errors').textContent).toContain(
      'source rule for 10.0.2.2: eth1 is down, so its routes cannot be added now',
    );
  });
});
