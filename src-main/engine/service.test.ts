import { describe, expect, it, vi } from 'vitest';
import { ApiFailure } from '../../shared/result';
import { EngineService } from './service';
import { emptySnapshot, fakeBackend } from '../testing/fake-backend';

describe('EngineService', () => {
  it('refuses unknown methods and malformed arguments without calling the backend', async () => {
    const b = fakeBackend();
    const s = new EngineService(b);
    expect(await s.invoke('mptcp:nope', {})).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await s.invoke('__proto__', {})).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await s.invoke('mptcp:status:get', { extra: 1 })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
    expect(b.calls).toEqual([]);
  });

  it('returns kernel refusals as values with their errno', async () => {
    const s = new EngineService(
      fakeBackend({ 'mptcp:limits:get': () => Promise.reject(new ApiFailure('EPERM', 'no', 'EPERM')) }),
    );
    expect(await s.invoke('mptcp:limits:get', {})).toEqual({
      ok: false,
      error: { code: 'EPERM', message: 'no', errno: 'EPERM' },
    });
  });

  it('polls connections only while someone listens, and skips overlapping polls', async () => {
    vi.useFakeTimers();
    let release: () => void = () => undefined;
    let polls = 0;
    const b = fakeBackend({
      'mptcp:connections:list': () => {
        polls++;
        return new Promise((r) => {
          release = () => r(emptySnapshot);
        });
      },
    });
    const s = new EngineService(b, { pollIntervalMs: 100 });
    await vi.advanceTimersByTimeAsync(500);
    expect(polls).toBe(0);
    const got: unknown[] = [];
    const off = s.on('mptcp:connections:snapshot', (p) => got.push(p));
    expect(polls).toBe(1);
    await vi.advanceTimersByTimeAsync(350); // the first poll is still running: no pile-up
    expect(polls).toBe(1);
    release();
    await vi.advanceTimersByTimeAsync(100);
    expect(got).toHaveLength(1);
    expect(polls).toBe(2);
    off();
    release();
    await vi.advanceTimersByTimeAsync(1000);
    expect(polls).toBe(2);
    vi.useRealTimers();
  });
});
