// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { PmAction, PmStartArgs, PmStatus } from '../../../shared/pm';
import { pmStatus } from '../../../shared/testing/status-fixtures';
import { FakeApi } from '../testing/fake-api';
import { App } from '../App';
import { createStores, type Stores } from '../state/stores';
import { connection, overview, snapshot, subflow } from '../testing/fixtures';
import { settle } from '../testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

const stopped: PmStatus = pmStatus();

function action(overrides: Partial<PmAction> = {}): PmAction {
  return {
    timestampMs: T0,
    token: 0xabcd,
    action: 'subflow-create',
    result: 'ok',
    message: null,
    local: '10.0.2.1',
    localPort: null,
    localId: 1,
    remote: '10.0.1.2',
    remotePort: 5201,
    errno: null,
    detail: {},
    ...overrides,
  };
}

function runningFor(a: PmStartArgs): PmStatus {
  return {
    ...stopped,
    running: true,
    mode: a.mode,
    role: a.role,
    manager: a.manager,
    subflows: a.subflows ?? 16,
    startedAtMs: T0,
    pathManager: a.manager,
    previousPathManager: 'kernel',
  };
}

async function open(api: FakeApi): Promise<void> {
  api.handle('mptcp:overview:get', { ok: true, value: overview() });
  stores = createStores(api, undefined, { schedule: (cb) => cb() });
  render(<App stores={stores} />);
  await settle();
  act(() => screen.getByTestId('nav-pm').click());
  await settle();
}

const started = (api: FakeApi) => api.calls.filter((c) => c.method === 'mptcp:pm:start').map((c) => c.args);

describe('Path manager page', () => {
  it('shows the kernel path manager, starts userspace fullmesh as a client, then stops', async () => {
    let status = stopped;
    const api = new FakeApi()
      .handle('mptcp:pm:status', () => ({ ok: true, value: status }))
      .handle('mptcp:pm:start', (a) => {
        status = runningFor({ force: false, ...a });
        return { ok: true, value: status };
      })
      .handle('mptcp:pm:stop', () => {
        status = stopped;
        return { ok: true, value: status };
      })
      .handle('mptcp:connections:list', {
        ok: true,
        value: snapshot({
          connections: [connection({ token: 0xabcd, subflows: [subflow(), subflow({ localPort: 40001 })] })],
        }),
      });
    await open(api);
    expect(screen.getByTestId('pm-sysctl').textContent).toBe('kernel');
    expect(screen.getByTestId('pm-running').textContent).toContain('not run');
    expect(screen.getByTestId('pm-detected').textContent).toBe('none detected');

    fireEvent.change(screen.getByTestId('pm-subflows'), { target: { value: '8' } });
    act(() => screen.getByTestId('pm-start').click());
    await settle();
    expect(started(api)).toEqual([
      { mode: 'fullmesh', role: 'client', manager: 'userspace', force: false, subflows: 8 },
    ]);
    expect(screen.getByTestId('pm-sysctl').textContent).toBe('userspace');
    expect(screen.getByTestId('pm-running-what').textContent).toContain('fullmesh · client · userspace');
    expect(screen.getByTestId('pm-previous').textContent).toBe('kernel');
    expect(screen.getByTestId('pm-conn-row').getAttribute('data-subflows')).toBe('2');

    act(() => api.emit('mptcp:pm:action', action()));
    const row = screen.getByTestId('pm-action-row');
    expect(row.getAttribute('data-action')).toBe('subflow-create');
    expect(row.textContent).toContain('10.0.2.1 → 10.0.1.2:5201');

    act(() => screen.getByTestId('pm-stop').click());
    await settle();
    expect(api.calls.some((c) => c.method === 'mptcp:pm:stop')).toBe(true);
    expect(screen.getByTestId('pm-sysctl').textContent).toBe('kernel');
    expect(screen.getByTestId('pm-start')).toBeTruthy();
  });

  it('marks ndiffports not for production and keeps it on the userspace manager', async () => {
    const api = new FakeApi().handle('mptcp:pm:status', { ok: true, value: stopped });
    await open(api);
    expect(screen.queryByTestId('pm-ndiffports-warning')).toBeNull();
    fireEvent.change(screen.getByTestId('pm-manager'), { target: { value: 'kernel' } });
    fireEvent.change(screen.getByTestId('pm-mode'), { target: { value: 'ndiffports' } });
    expect(screen.getByTestId('pm-ndiffports-warning').textContent).toContain('not for production');
    expect(screen.getByTestId<HTMLSelectElement>('pm-manager').value).toBe('userspace');
    const kernelOption = within(screen.getByTestId('pm-manager')).getByText<HTMLOptionElement>(/in-kernel/);
    expect(kernelOption.disabled).toBe(true);
    expect(screen.getByTestId<HTMLInputElement>('pm-subflows').placeholder).toBe('2');
  });

  it('refuses bad input before sending anything', async () => {
    const api = new FakeApi().handle('mptcp:pm:status', { ok: true, value: stopped });
    await open(api);
    fireEvent.change(screen.getByTestId('pm-subflows'), { target: { value: '0' } });
    expect(screen.getByTestId('pm-form-error').textContent).toMatch(/subflows/);
    expect(screen.getByTestId<HTMLButtonElement>('pm-start').disabled).toBe(true);
    fireEvent.change(screen.getByTestId('pm-subflows'), { target: { value: '2.5' } });
    expect(screen.getByTestId<HTMLButtonElement>('pm-start').disabled).toBe(true);
    expect(started(api)).toEqual([]);
  });

  it('with mptcpd detected: start only through the explicit override, which is sent as force', async () => {
    const status = { ...stopped, detected: { mptcpd: true, networkManager: false } };
    const api = new FakeApi()
      .handle('mptcp:pm:status', { ok: true, value: status })
      .handle('mptcp:pm:start', (a) => ({ ok: true, value: runningFor({ force: false, ...a }) }));
    await open(api);
    expect(screen.getByTestId('pm-detected').textContent).toBe('mptcpd');
    expect(screen.getByTestId('pm-conflict').textContent).toContain('mptcpd manages MPTCP');
    expect(screen.getByTestId<HTMLButtonElement>('pm-start').disabled).toBe(true);
    act(() => screen.getByTestId('pm-force').click());
    act(() => screen.getByTestId('pm-start').click());
    await settle();
    expect(started(api)).toEqual([{ mode: 'fullmesh', role: 'client', manager: 'userspace', force: true }]);
  });

  it('NetworkManager blocks only the in-kernel manager (its endpoints); the userspace one just notes it', async () => {
    const status = { ...stopped, detected: { mptcpd: false, networkManager: true } };
    const api = new FakeApi().handle('mptcp:pm:status', { ok: true, value: status });
    await open(api);
    expect(screen.getByTestId('pm-nm-aside')).toBeTruthy();
    expect(screen.queryByTestId('pm-conflict')).toBeNull();
    expect(screen.getByTestId<HTMLButtonElement>('pm-start').disabled).toBe(false);
    fireEvent.change(screen.getByTestId('pm-manager'), { target: { value: 'kernel' } });
    expect(screen.getByTestId('pm-conflict').textContent).toContain('NetworkManager manages MPTCP');
    expect(screen.getByTestId<HTMLButtonElement>('pm-start').disabled).toBe(true);
  });

  it("shows the engine's refusal and the 8-endpoint cap's left-out addresses", async () => {
    const api = new FakeApi()
      .handle('mptcp:pm:status', {
        ok: true,
        value: {
          ...runningFor({ mode: 'fullmesh', role: 'client', manager: 'kernel', force: false }),
          leftOut: ['10.0.9.1', '10.0.10.1'],
          recentActions: [
            action({ action: 'endpoint-sync', token: null, detail: { added: '["10.0.2.1"]' } }),
          ],
        },
      })
      .handle('mptcp:pm:stop', { ok: false, error: { code: 'EPERM', message: 'no CAP_NET_ADMIN' } });
    await open(api);
    expect(screen.getByTestId('pm-left-out').textContent).toContain('10.0.9.1, 10.0.10.1');
    expect(screen.getByTestId('pm-action-row').getAttribute('data-action')).toBe('endpoint-sync');
    act(() => screen.getByTestId('pm-stop').click());
    await settle();
    expect(screen.getByTestId('pm-command-error').textContent).toContain('no CAP_NET_ADMIN');
  });
});

describe('Path manager page after a killed run', () => {
  it('says so and offers to restore path_manager (a stop with nothing running)', async () => {
    let status: PmStatus = {
      ...stopped,
      pathManager: 'userspace',
      orphan: {
        pid: 4321,
        mode: 'fullmesh',
        role: 'client',
        manager: 'userspace',
        previousPathManager: 'kernel',
        startedAtMs: T0,
      },
    };
    const api = new FakeApi()
      .handle('mptcp:pm:status', () => ({ ok: true, value: status }))
      .handle('mptcp:pm:stop', () => {
        status = stopped;
        return { ok: true, value: status };
      });
    await open(api);
    expect(screen.getByTestId('pm-orphan').textContent).toContain('pid 4321');
    act(() => screen.getByTestId('pm-restore').click());
    await settle();
    expect(api.calls.filter((c) => c.method === 'mptcp:pm:stop')).toHaveLength(1);
    expect(screen.queryByTestId('pm-orphan')).toBeNull();
    expect(screen.getByTestId('pm-sysctl').textContent).toBe('kernel');
  });
});

describe('Events page: path manager actions', () => {
  it('shows pm actions in the timeline, filterable as "pm" and by token', async () => {
    const api = new FakeApi().handle('mptcp:pm:status', { ok: true, value: stopped });
    await open(api);
    act(() => screen.getByTestId('nav-events').click());
    await settle();
    act(() => {
      api.emit('mptcp:pm:action', action({ timestampMs: T0 }));
      api.emit(
        'mptcp:pm:action',
        action({ timestampMs: T0 + 1, token: 0x1234, result: 'error', errno: 'EINVAL', message: 'refused' }),
      );
    });
    const rows = () => screen.queryAllByTestId('event-row');
    expect(rows().map((r) => r.getAttribute('data-kind'))).toEqual(['pm', 'pm']);
    expect(rows()[0]?.textContent).toContain('pm subflow-create');
    expect(rows()[0]?.textContent).toContain('EINVAL');
    fireEvent.change(screen.getByTestId('events-filter-kind'), { target: { value: 'link' } });
    expect(rows()).toHaveLength(0);
    fireEvent.change(screen.getByTestId('events-filter-kind'), { target: { value: 'pm' } });
    fireEvent.change(screen.getByTestId('events-filter-token'), { target: { value: '1234' } });
    expect(rows()).toHaveLength(1);
    expect(rows()[0]?.getAttribute('data-token')).toBe('1234');
  });
  it('says plainly whether subflows that close are recreated, and shows each recreate attempt', async () => {
    let status = stopped;
    const api = new FakeApi().handle('mptcp:pm:status', () => ({ ok: true, value: status }));
    await open(api);
    // The in-kernel path manager never recreates a closed subflow.
    expect(screen.getByTestId('pm-recreate').textContent).toMatch(
      /^not re-created: the in-kernel path manager never re-creates a subflow that closed \(link flap, reset, timeout\)/,
    );
    stores?.dispose();
    cleanup();
    status = runningFor({ mode: 'fullmesh', role: 'client', manager: 'userspace', force: false });
    await open(api);
    expect(screen.getByTestId('pm-recreate').textContent).toBe(
      're-created when they close on an error (link flap, reset, timeout): after 1 s, doubling up to 30 s, at most 8 attempts, and at once when their interface comes back; each attempt is a path-manager action',
    );
    act(() => {
      api.emit(
        'mptcp:pm:action',
        action({
          action: 'retry-scheduled',
          result: 'info',
          localId: null,
          message: 'closed with ECONNRESET; recreate attempt 1 of 8 in 1.0 s',
          detail: { attempt: '1', delayMs: '1000' },
        }),
      );
      api.emit(
        'mptcp:pm:action',
        action({
          action: 'subflow-recreate',
          message: 'attempt 1: closed with ECONNRESET',
          detail: { attempt: '1' },
        }),
      );
    });
    const rows = screen.getAllByTestId('pm-action-row');
    expect(rows.map((r) => r.getAttribute('data-action'))).toEqual(['subflow-recreate', 'retry-scheduled']);
    expect(rows[0]!.textContent).toContain('attempt 1: closed with ECONNRESET');
    expect(rows[1]!.textContent).toContain('recreate attempt 1 of 8 in 1.0 s');
    stores?.dispose();
    cleanup();
    status = runningFor({ mode: 'fullmesh', role: 'client', manager: 'kernel', force: false });
    await open(api);
    expect(screen.getByTestId('pm-recreate').textContent).toMatch(
      /^not re-created: the in-kernel path manager/,
    );
  });
});
