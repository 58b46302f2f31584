import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeApi } from '../../testing/fake-api';
import { connection } from '../../testing/fixtures';
import { startDetailLoop, type Visibility } from './detail-loop';

function visibility() {
  let hidden = false;
  const listeners = new Set<() => void>();
  const v: Visibility = {
    hidden: () => hidden,
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  return {
    v,
    set(h: boolean) {
      hidden = h;
      for (const l of listeners) l();
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('detail loop', () => {
  it('reads about 10 times a second when calls are fast', async () => {
    const api = new FakeApi().handle('mptcp:connection:get', { ok: true, value: connection() });
    const reads: number[] = [];
    const loop = startDetailLoop(api, 0xdeadbeef, (_c, t) => reads.push(t), { visibility: visibility().v });
    await vi.advanceTimersByTimeAsync(1000);
    expect(api.calls.filter((c) => c.method === 'mptcp:connection:get')).toHaveLength(10);
    expect(reads).toHaveLength(10);
    expect(api.calls[0]?.args).toEqual({ token: 0xdeadbeef });
    loop.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(reads).toHaveLength(10);
  });

  it('never overlaps calls: ticks are skipped while one is running, and the interval backs off', async () => {
    const api = new FakeApi(); // calls stay pending until resolved
    const loop = startDetailLoop(api, 1, () => undefined, { visibility: visibility().v });
    await vi.advanceTimersByTimeAsync(2000);
    expect(api.pendingCalls('mptcp:connection:get')).toBe(1);
    expect(loop.stats.calls).toBe(1);
    expect(loop.stats.skipped).toBeGreaterThan(3);
    expect(loop.stats.intervalMs).toBeGreaterThan(100);
    api.resolveNext('mptcp:connection:get', { ok: true, value: null });
    await vi.advanceTimersByTimeAsync(1000);
    expect(api.pendingCalls('mptcp:connection:get')).toBe(1); // the next one, alone
    expect(loop.stats.calls).toBe(2);
    loop.stop();
  });

  it('comes back to 10 Hz once calls are fast again', async () => {
    const api = new FakeApi();
    const loop = startDetailLoop(api, 1, () => undefined, { visibility: visibility().v });
    await vi.advanceTimersByTimeAsync(3000);
    const slow = loop.stats.intervalMs;
    expect(slow).toBe(1000);
    api.handle('mptcp:connection:get', { ok: true, value: null });
    api.resolveNext('mptcp:connection:get', { ok: true, value: null });
    await vi.advanceTimersByTimeAsync(5000);
    expect(loop.stats.intervalMs).toBe(100);
    loop.stop();
  });

  it('sleeps while the page is hidden', async () => {
    const api = new FakeApi().handle('mptcp:connection:get', { ok: true, value: null });
    const vis = visibility();
    const loop = startDetailLoop(api, 1, () => undefined, { visibility: vis.v });
    await vi.advanceTimersByTimeAsync(500);
    const before = api.calls.length;
    vis.set(true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(api.calls.length).toBe(before);
    vis.set(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(api.calls.length).toBe(before + 5);
    loop.stop();
  });
});
