// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentAccess } from '../../../shared/agent-access';
import { kernelStatus } from '../../../shared/testing/status-fixtures';
import { FakeApi } from '../testing/fake-api';
import { createStores, StoresContext, type Stores } from '../state/stores';
import { settle } from '../testing/render';
import { ReadOnlyBanner } from './ReadOnlyBanner';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

const access = (over: Partial<AgentAccess> = {}): AgentAccess => ({
  mode: 'read-only',
  socketPath: '/run/mptcp-studio/agent.sock',
  reason: 'no agent at /run/mptcp-studio/agent.sock',
  checkedAtMs: 1,
  setup: {
    group: 'mptcp-studio',
    user: 'alice',
    userInGroup: false,
    commands: ['sudo usermod -aG mptcp-studio alice', 'sudo systemctl enable --now mptcp-studio-agent'],
  },
  polkit: { available: false, reason: 'pkexec is not installed', actionId: 'org.mptcpstudio.agent.start' },
  ...over,
});

const readOnly = kernelStatus({ privileges: { netAdmin: false, note: 'Changes need CAP_NET_ADMIN.' } });

async function mount(api: FakeApi, status = readOnly) {
  stores = createStores(api, undefined, { schedule: (cb) => cb() });
  render(
    <StoresContext.Provider value={stores}>
      <ReadOnlyBanner status={status} testId="banner" />
    </StoresContext.Provider>,
  );
  await settle();
}

describe('ReadOnlyBanner', () => {
  it('names the agent unit and the group with the exact commands, not "run as root"', async () => {
    await mount(new FakeApi().handle('mptcp:agent:status', { ok: true, value: access() }));
    const banner = screen.getByTestId('banner');
    expect(banner.textContent).toContain('Changes need CAP_NET_ADMIN.');
    expect(screen.getByTestId('agent-reason').textContent).toContain(
      'no agent at /run/mptcp-studio/agent.sock',
    );
    expect(screen.getByTestId('agent-setup-commands').textContent).toBe(
      'sudo usermod -aG mptcp-studio alice\nsudo systemctl enable --now mptcp-studio-agent',
    );
    expect(banner.textContent).toContain('log out and back in');
    expect(banner.textContent).not.toMatch(/run as root|grant the capability/);
    expect(screen.getByTestId('agent-polkit-unavailable').textContent).toContain('pkexec is not installed');
    expect(screen.queryByTestId('agent-start')).toBeNull();
  });

  it('offers to start the agent through polkit, and rechecks on request', async () => {
    const calls: string[] = [];
    const api = new FakeApi()
      .handle('mptcp:agent:status', ({ recheck }) => {
        calls.push(recheck ? 'recheck' : 'status');
        return {
          ok: true,
          value: access({
            polkit: { available: true, reason: null, actionId: 'org.mptcpstudio.agent.start' },
          }),
        };
      })
      .handle('mptcp:agent:start', () => {
        calls.push('start');
        return {
          ok: false,
          error: { code: 'EPERM', message: 'the agent was not started: Request dismissed' },
        };
      });
    await mount(api);
    fireEvent.click(screen.getByTestId('agent-recheck'));
    await settle();
    fireEvent.click(screen.getByTestId('agent-start'));
    await settle();
    expect(calls).toEqual(['status', 'recheck', 'start']);
    expect(screen.getByTestId('agent-error').textContent).toContain('Request dismissed');
  });

  it('is not shown with CAP_NET_ADMIN, and asks nothing', async () => {
    const api = new FakeApi();
    await mount(api, kernelStatus());
    expect(screen.queryByTestId('banner')).toBeNull();
    expect(api.calls.filter((c) => c.method.startsWith('mptcp:agent:'))).toEqual([]);
  });
});
