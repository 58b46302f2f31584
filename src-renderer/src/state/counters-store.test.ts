import { describe, expect, it } from 'vitest';
import type { MptcpApi } from '../../../shared/contract';
import { FakeApi } from '../testing/fake-api';
import { createCountersStore } from './counters-store';

const flush = () => new Promise<void>((r) => setTimeout(r, 0));

describe('counters store', () => {
  it('applies changed-only samples on its base and charts the diagnostic rates', async () => {
    const api = new FakeApi().handle('mptcp:counters:get', {
      ok: true,
      value: { takenAtMs: 1000, counters: { MPJoinRejected: 1, MPCapableSYNTX: 7, DataCsumErr: 0 } },
    });
    const store = createCountersStore(api);
    await flush();
    api.emit('mptcp:counters:sample', {
      takenAtMs: 2000,
      prevTakenAtMs: 1000,
      changed: { MPJoinRejected: 3 },
    });
    api.emit('mptcp:counters:sample', {
      takenAtMs: 4000,
      prevTakenAtMs: 2000,
      changed: { DataCsumErr: 4, MPCapableFallbackACK: 2 },
    });
    const s = store.getState();
    expect(s.counters).toEqual({
      takenAtMs: 4000,
      counters: { MPJoinRejected: 3, MPCapableSYNTX: 7, DataCsumErr: 4, MPCapableFallbackACK: 2 },
    });
    expect(s.history.map((p) => p.perSec)).toEqual([
      { joinFailures: 2, fallbacks: 0, drops: 0, checksumErrors: 0 },
      { joinFailures: 0, fallbacks: 1, drops: 0, checksumErrors: 2 },
    ]);
    expect(s.applied).toBe(2);
    store.dispose();
  });

  it('reads the base again when a sample was missed, and ignores old samples', async () => {
    let reads = 0;
    const api = new FakeApi().handle('mptcp:counters:get', () => {
      reads++;
      return { ok: true, value: { takenAtMs: reads === 1 ? 1000 : 5000, counters: { MPJoinRejected: 9 } } };
    });
    const store = createCountersStore(api);
    await flush();
    // The sample at 3000 never arrived: this one's changes are relative to it, not to our base.
    api.emit('mptcp:counters:sample', { takenAtMs: 4000, prevTakenAtMs: 3000, changed: { DataCsumErr: 1 } });
    expect(store.getState().counters?.counters).toEqual({ MPJoinRejected: 9 });
    expect(store.getState().rebased).toBe(1);
    await flush();
    expect(reads).toBe(2);
    expect(store.getState().counters?.takenAtMs).toBe(5000);
    api.emit('mptcp:counters:sample', { takenAtMs: 4500, prevTakenAtMs: 4000, changed: { DataCsumErr: 1 } });
    expect(store.getState().counters?.takenAtMs).toBe(5000);
    // The engine's first sample carries everything: a base of its own.
    api.emit('mptcp:counters:sample', {
      takenAtMs: 9000,
      prevTakenAtMs: null,
      changed: { MPJoinRejected: 0 },
    });
    expect(store.getState().counters).toEqual({ takenAtMs: 9000, counters: { MPJoinRejected: 0 } });
    store.dispose();
  });

  it('keeps a bounded history', async () => {
    const api = new FakeApi().handle('mptcp:counters:get', {
      ok: true,
      value: { takenAtMs: 0, counters: { MPJoinRejected: 0 } },
    });
    const store = createCountersStore(api, 50);
    await flush();
    for (let i = 1; i <= 200; i++)
      api.emit('mptcp:counters:sample', {
        takenAtMs: i * 1000,
        prevTakenAtMs: (i - 1) * 1000,
        changed: { MPJoinRejected: i },
      });
    expect(store.getState().history).toHaveLength(50);
    expect(store.getState().history.at(-1)?.tMs).toBe(200_000);
    store.dispose();
  });

  it('while a recording replays, ignores the host: samples, read results and read failures', async () => {
    let live = true;
    const api = new FakeApi();
    const store = createCountersStore(api, 600, () => live);
    live = false;
    store.adoptRecorded({ takenAtMs: 10, counters: { MPJoinRejected: 2 } });
    api.emit('mptcp:counters:sample', { takenAtMs: 20, prevTakenAtMs: null, changed: { MPJoinRejected: 9 } });
    // The read started at creation answers now, during the replay, with a failure.
    api.resolveNext('mptcp:counters:get', { ok: false, error: { code: 'KERNEL', message: 'boom' } });
    await flush();
    expect(store.getState()).toMatchObject({
      counters: { takenAtMs: 10, counters: { MPJoinRejected: 2 } },
      error: null,
    });
    // A read whose promise rejects (the transport broke) during the replay: not shown either.
    const broken = {
      invoke: () => Promise.reject(new Error('socket closed')),
      on: () => () => undefined,
    } as unknown as MptcpApi;
    const other = createCountersStore(broken, 600, () => live);
    await flush();
    expect(other.getState().error).toBeNull();
    live = true;
    other.getState().refresh();
    await flush();
    expect(other.getState().error).toMatchObject({ code: 'INTERNAL' });
  });
});
