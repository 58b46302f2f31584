import { describe, expect, it } from 'vitest';
import { ConnectionsSnapshotSchema, OverviewSchema } from '../../../shared/types';
import { FakeApi } from '../testing/fake-api';
import { overview, snapshot } from '../testing/fixtures';
import { ConnectionsFeedClient } from './connections-feed-client';
import { createConnectionsStore } from './connections-store';
import { createOverviewStore } from './overview-store';
import { createStores } from './stores';

describe('fixtures', () => {
  it('are valid contract values', () => {
    expect(OverviewSchema.safeParse(overview()).success).toBe(true);
    expect(ConnectionsSnapshotSchema.safeParse(snapshot()).success).toBe(true);
  });
});

describe('overview store', () => {
  it('applies only the newest of overlapping refreshes', async () => {
    const api = new FakeApi();
    const store = createOverviewStore(api, () => 42);
    const first = store.getState().refresh();
    const second = store.getState().refresh();
    expect(store.getState().loading).toBe(true);
    api.resolveNext('mptcp:overview:get', { ok: true, value: overview({ interfaces: [] }) });
    api.resolveNext('mptcp:overview:get', { ok: true, value: overview() });
    await Promise.all([first, second]);
    expect(store.getState().interfaces).toHaveLength(3);
    expect(store.getState()).toMatchObject({ loading: false, error: null, updatedAtMs: 42 });
  });

  it("follows the host's pushes, and a push wins over a refresh still in flight", async () => {
    const api = new FakeApi();
    const store = createOverviewStore(api, () => 7);
    const stale = store.getState().refresh();
    const pushed = overview();
    api.emit('mptcp:overview:changed', { ...pushed, interfaces: pushed.interfaces.slice(0, 1) });
    expect(store.getState().interfaces).toHaveLength(1);
    expect(store.getState().updatedAtMs).toBe(7);
    api.resolveNext('mptcp:overview:get', { ok: true, value: overview() });
    await stale;
    expect(store.getState().interfaces).toHaveLength(1);
  });

  it('keeps data and records the error when a refresh fails', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
    const store = createOverviewStore(api);
    await store.getState().refresh();
    api.handle('mptcp:overview:get', { ok: false, error: { code: 'EPERM', message: 'no' } });
    await store.getState().refresh();
    expect(store.getState().status).not.toBeNull();
    expect(store.getState().error).toEqual({ code: 'EPERM', message: 'no' });
  });

  it('survives an API that throws instead of returning a result', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', () => {
      throw new Error('bridge gone');
    });
    const store = createOverviewStore(api);
    await store.getState().refresh();
    expect(store.getState().error).toMatchObject({ code: 'INTERNAL', message: 'Error: bridge gone' });
  });
});

describe('connections store', () => {
  it('fills from connections:list, then follows snapshot events, ignoring older ones', async () => {
    const api = new FakeApi();
    const feed = new ConnectionsFeedClient(api);
    const store = createConnectionsStore(api, feed, () => 7);
    expect(api.listenerCount('mptcp:connections:snapshot')).toBe(1);
    const t0 = snapshot().takenAtMs;
    api.emit('mptcp:connections:snapshot', snapshot({ takenAtMs: t0 + 1000 }));
    // The initial list answers late with an older dump: ignored.
    api.resolveNext('mptcp:connections:list', {
      ok: true,
      value: snapshot({ takenAtMs: t0, connections: [] }),
    });
    await Promise.resolve();
    expect(store.getState().snapshot?.takenAtMs).toBe(t0 + 1000);
    expect(store.getState().snapshot?.connections).toHaveLength(1);
    expect(store.getState().receivedAtMs).toBe(7);

    store.dispose();
    feed.dispose();
    expect(api.listenerCount('mptcp:connections:snapshot')).toBe(0);
    expect(api.listenerCount('mptcp:connections:delta')).toBe(0);
    expect(api.listenerCount('mptcp:engine:error')).toBe(0);
  });

  it('records engine errors until the next snapshot from the same source', () => {
    const api = new FakeApi();
    const store = createConnectionsStore(api, new ConnectionsFeedClient(api));
    api.emit('mptcp:engine:error', { source: 'connections', code: 'EPERM', message: 'x' });
    expect(store.getState().engineError).toMatchObject({ source: 'connections', code: 'EPERM' });
    api.emit('mptcp:connections:snapshot', snapshot());
    expect(store.getState().engineError).toBeNull();
  });

  it('reports a failed initial list while no snapshot has arrived', async () => {
    const api = new FakeApi().handle('mptcp:connections:list', {
      ok: false,
      error: { code: 'EPERM', message: 'no' },
    });
    const store = createConnectionsStore(api, new ConnectionsFeedClient(api));
    await Promise.resolve();
    expect(store.getState().loadError).toEqual({ code: 'EPERM', message: 'no' });
    api.emit('mptcp:connections:snapshot', snapshot());
    expect(store.getState().loadError).toBeNull();
  });
});

describe('createStores', () => {
  it('reads the overview at once over an always-open transport', () => {
    const api = new FakeApi();
    const stores = createStores(api);
    expect(api.pendingCalls('mptcp:overview:get')).toBe(1);
    stores.dispose();
  });
});
