import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeApi } from '../../testing/fake-api';
import { connection, linkEvent, mptcpEvent, snapshot, subflow } from '../../testing/fixtures';
import { createStores, type Stores } from '../stores';
import type { FailoverEvent } from '../../../../shared/failover';
import type { PmAction } from '../../../../shared/pm';
import { headerLine, parseRecording, Recorder } from './recording';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const sync = (cb: () => void) => cb();
const TOKEN = 0xdeadbeef;

/** Snapshot i: both subflows' counters advance by 100 kB and 1 kB per second. */
function snapshotAt(i: number) {
  const c = connection();
  return snapshot({
    takenAtMs: T0 + i * 1000,
    connections: [
      {
        ...c,
        subflows: c.subflows.map((s, k) =>
          subflow({
            ...s,
            bytesAcked: 1_000_000 + i * 100_000 * (k + 1),
            bytesReceived: 2000 + i * 1000,
            rttUs: 10_000 + i * 100 + k,
          }),
        ),
      },
    ],
  });
}

function state(stores: Stores) {
  const counters = stores.counters.getState();
  return {
    connections: stores.connections.getState().snapshot,
    series: stores.samples.window(TOKEN, 0, Infinity, 10_000),
    events: stores.events.list().map((e) => e.event),
    counters: counters.counters,
    countersHistory: counters.history,
  };
}

const PM_ACTION: PmAction = {
  timestampMs: T0 + 1500,
  token: TOKEN,
  action: 'subflow-create',
  result: 'ok',
  message: null,
  local: '10.0.1.1',
  localPort: null,
  localId: 2,
  remote: '10.0.0.2',
  remotePort: 5201,
  errno: null,
  detail: {},
};

const FAILOVER: FailoverEvent = {
  timestampMs: T0 + 4500,
  kind: 'stalled',
  token: 0x1234,
  subflow: {
    localAddress: '10.0.1.1',
    localPort: 40000,
    remoteAddress: '10.0.1.2',
    remotePort: 5201,
    backup: false,
    ifname: 'eth1',
  },
  from: null,
  fromState: null,
  back: false,
  backoff: 3,
  noAckMs: 1200,
  stalledForMs: null,
  share: null,
  count: null,
};

let opened: Stores[] = [];
beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  for (const s of opened) s.dispose();
  opened = [];
  vi.useRealTimers();
});

function stores(api = new FakeApi()): { api: FakeApi; stores: Stores } {
  const s = createStores(api, undefined, { schedule: sync });
  opened.push(s);
  return { api, stores: s };
}

describe('recording round trip', () => {
  it('record → save → open → replay gives the same store state', async () => {
    const live = stores();
    live.stores.monitor.getState().toggleRecording();
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(1000);
      live.api.emit('mptcp:connections:snapshot', snapshotAt(i));
      // MPTcpExt samples: the first carries every counter, the others what changed.
      live.api.emit('mptcp:counters:sample', {
        takenAtMs: T0 + i * 1000 + 10,
        prevTakenAtMs: i === 0 ? null : T0 + (i - 1) * 1000 + 10,
        changed: i === 0 ? { MPJoinSynRx: 4, MPJoinRejected: 0, AddAddrDrop: 0 } : { MPJoinRejected: i * 3 },
      });
      if (i === 1) live.api.emit('mptcp:pm:action', PM_ACTION);
      if (i === 2) live.api.emit('mptcp:kernel:event', mptcpEvent('sub_closed', { error: 104 }, T0 + 2500));
      if (i === 3) live.api.emit('mptcp:kernel:event', linkEvent(T0 + 3500, 'down'));
      if (i === 4) live.api.emit('mptcp:failover:event', FAILOVER);
    }
    live.stores.monitor.getState().toggleRecording();
    const file = live.stores.monitor.getState().saveRecording();
    expect(file?.filename).toMatch(/^mptcp-studio-.*\.ndjson$/);
    const text = file?.text ?? '';
    expect(JSON.parse(text.split('\n')[0] ?? '')).toMatchObject({
      format: 'mptcp-studio-recording',
      version: 3,
    });
    // Header, 5 snapshots, 5 counter readings, 1 path-manager action, 2 kernel events, 1 failover.
    expect(text.trim().split('\n')).toHaveLength(1 + 5 + 5 + 1 + 2 + 1);
    // The snapshots: a whole one, then what changed.
    const types = text
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types.filter((t) => t === 'snapshot')).toHaveLength(1);
    expect(types.filter((t) => t === 'delta')).toHaveLength(4);

    // This host answers counter reads (the live one above never does): a read must not land in
    // the replay, and leaving the replay reads again.
    const replayApi = new FakeApi().handle('mptcp:counters:get', {
      ok: true,
      value: { takenAtMs: T0 - 60_000, counters: { MPJoinRejected: 500 } },
    });
    const replay = stores(replayApi);
    await vi.advanceTimersByTimeAsync(0);
    expect(replay.stores.counters.getState().counters?.counters).toEqual({ MPJoinRejected: 500 });
    const result = replay.stores.monitor.getState().openRecording('lab.ndjson', text);
    expect(result).toEqual({ entries: 14, errors: [] });
    replay.stores.counters.getState().refresh(); // answered during the replay: ignored
    expect(replay.stores.monitor.getState()).toMatchObject({
      mode: 'replay',
      replay: { fileName: 'lab.ndjson', playing: true },
    });
    // The live feed is ignored while replaying.
    replay.api.emit('mptcp:connections:snapshot', snapshot({ takenAtMs: T0 + 999_999, connections: [] }));
    replay.api.emit('mptcp:kernel:event', linkEvent(T0 + 999_999, 'up'));
    replay.api.emit('mptcp:counters:sample', {
      takenAtMs: T0 + 999_999,
      prevTakenAtMs: null,
      changed: { MPJoinRejected: 99_999 },
    });
    replay.api.emit('mptcp:pm:action', { ...PM_ACTION, timestampMs: T0 + 999_999 });
    await vi.runAllTimersAsync();
    expect(replay.stores.monitor.getState().replay).toMatchObject({
      position: 14,
      total: 14,
      playing: false,
    });

    const a = state(live.stores);
    const b = state(replay.stores);
    expect(b.series).toHaveLength(2);
    expect(b.series[0]?.points).toHaveLength(5);
    expect(b.countersHistory).toHaveLength(4);
    expect(b.countersHistory[3]?.perSec.joinFailures).toBe(3);
    expect(b.events.filter((e) => e.source === 'pm')).toHaveLength(1);
    expect(b.events.filter((e) => e.source === 'failover')).toEqual([
      { source: 'failover', timestampMs: FAILOVER.timestampMs, failover: FAILOVER },
    ]);
    expect(b).toEqual(a);

    const reads = replay.api.calls.filter((c) => c.method === 'mptcp:counters:get').length;
    replay.stores.monitor.getState().exitReplay();
    expect(replay.stores.monitor.getState().mode).toBe('live');
    // Back to live: the replayed counters are gone and the host's are read again.
    expect(replay.stores.counters.getState()).toMatchObject({ counters: null, history: [] });
    expect(replay.api.calls.filter((c) => c.method === 'mptcp:counters:get')).toHaveLength(reads + 1);
    replay.api.emit('mptcp:kernel:event', linkEvent(T0 + 999_999, 'up'));
    expect(replay.stores.events.size).toBe(1);
  });

  it('plays 4x faster at speed 4 and can pause', async () => {
    const text = [
      headerLine(T0),
      ...[0, 1, 2, 3].map((i) => JSON.stringify({ t: T0 + i * 1000, type: 'snapshot', data: snapshotAt(i) })),
    ].join('\n');
    const { stores: s } = stores();
    const m = s.monitor;
    m.getState().openRecording('x.ndjson', text);
    m.getState().setSpeed(4);
    expect(m.getState().replay?.position).toBe(1);
    await vi.advanceTimersByTimeAsync(250);
    expect(m.getState().replay?.position).toBe(2);
    m.getState().pauseReplay();
    await vi.advanceTimersByTimeAsync(5000);
    expect(m.getState().replay?.position).toBe(2);
    m.getState().play();
    await vi.runAllTimersAsync();
    expect(m.getState().replay?.position).toBe(4);
  });
});

describe('parseRecording', () => {
  it('reports bad lines with their numbers and keeps the good ones', () => {
    const good = JSON.stringify({ t: T0, type: 'snapshot', data: snapshotAt(0) });
    const badSnapshot = JSON.stringify({
      t: T0,
      type: 'snapshot',
      data: { ...snapshotAt(1), connections: 'x' },
    });
    const badEvent = JSON.stringify({ t: T0, type: 'event', data: { source: 'bogus', timestampMs: 1 } });
    const text = [
      headerLine(T0),
      good,
      '{not json',
      badSnapshot,
      '',
      badEvent,
      JSON.stringify({ t: 1, type: 'other' }),
    ].join('\n');
    const parsed = parseRecording(text);
    expect(parsed.entries).toHaveLength(1);
    expect(parsed.errors.map((e) => e.line)).toEqual([3, 4, 6, 7]);
    expect(parsed.errors[0]?.message).toMatch(/not JSON/);
    expect(parsed.errors[1]?.message).toMatch(/^data\.connections/);
  });

  it('refuses a file without the header', () => {
    const parsed = parseRecording(JSON.stringify({ t: T0, type: 'snapshot', data: snapshotAt(0) }));
    expect(parsed.entries).toEqual([]);
    expect(parsed.errors).toEqual([
      { line: 1, message: expect.stringMatching(/not a recording/) as unknown },
    ]);
    expect(parseRecording('').errors[0]?.message).toMatch(/empty/);
    // A recording of another version says so (a newer app wrote it), rather than "not a recording".
    const v4 = JSON.stringify({ format: 'mptcp-studio-recording', version: 4 });
    expect(parseRecording(v4).errors[0]?.message).toBe(
      'recording format version 4 is not one this app reads (1 to 3)',
    );
  });

  it('a version 1 recording (snapshots and events only) still replays', async () => {
    const text = [
      JSON.stringify({ format: 'mptcp-studio-recording', version: 1, startedAtMs: T0 }),
      ...[0, 1, 2].map((i) => JSON.stringify({ t: T0 + i * 1000, type: 'snapshot', data: snapshotAt(i) })),
      JSON.stringify({ t: T0 + 1500, type: 'event', data: linkEvent(T0 + 1500, 'down') }),
    ].join('\n');
    const { stores: s } = stores();
    expect(s.monitor.getState().openRecording('old.ndjson', text)).toEqual({ entries: 4, errors: [] });
    await vi.runAllTimersAsync();
    const st = state(s);
    expect(st.series).toHaveLength(2);
    expect(st.series[0]?.points).toHaveLength(3);
    expect(st.events).toHaveLength(1);
    expect(st.counters).toBeNull();
  });

  it('an opened file with bad lines is reported in the monitor and the rest replays', () => {
    const { stores: s } = stores();
    const text = [
      headerLine(T0),
      'garbage',
      JSON.stringify({ t: T0, type: 'snapshot', data: snapshotAt(0) }),
    ].join('\n');
    expect(s.monitor.getState().openRecording('mixed.ndjson', text)).toEqual({
      entries: 1,
      errors: [{ line: 2, message: expect.stringMatching(/not JSON/) as unknown }],
    });
    expect(s.monitor.getState().openErrors).toHaveLength(1);
    expect(s.connections.getState().snapshot?.connections).toHaveLength(1);
  });
});

describe('snapshots as deltas', () => {
  /** n snapshots of `conns` idle connections, the first `busy` of them moving. */
  function session(n: number, conns: number, busy: number) {
    return Array.from({ length: n }, (_, i) =>
      snapshot({
        takenAtMs: T0 + i * 1000,
        connections: Array.from({ length: conns }, (_, k) => {
          const c = connection({ token: 1000 + k, localPort: 40000 + k });
          return {
            ...c,
            subflows: c.subflows.map((sf) =>
              subflow({ ...sf, tokenLocal: 1000 + k, bytesAcked: k < busy ? 1000 + i * 5000 : 1000 }),
            ),
          };
        }),
      }),
    );
  }

  function record(snaps: ReturnType<typeof session>): string {
    const live = stores();
    live.stores.monitor.getState().toggleRecording();
    for (const snap of snaps) {
      vi.advanceTimersByTime(1000);
      live.api.emit('mptcp:connections:snapshot', snap);
    }
    return live.stores.monitor.getState().saveRecording()?.text ?? '';
  }

  it('an idle session costs a small fraction of whole snapshots, with a whole one every 60', () => {
    const snaps = session(130, 50, 2);
    const text = record(snaps);
    const lines = text.trim().split('\n').slice(1);
    const whole = lines.filter((l) => l.includes('"type":"snapshot"'));
    expect(whole.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([1, 61, 121]);
    const wholeBytes = JSON.stringify(snaps[0]).length * snaps.length;
    expect(text.length).toBeLessThan(wholeBytes / 10);
  });

  it('a lost line costs the deltas up to the next whole snapshot, and the replay ends right', async () => {
    const snaps = session(70, 5, 5);
    const lines = record(snaps).split('\n');
    // Drop the line of snapshot 30 (header is line 0): deltas 31..60 have no base.
    const cut = lines.filter((_, i) => i !== 30).join('\n');
    const { stores: s } = stores();
    expect(s.monitor.getState().openRecording('cut.ndjson', cut).errors).toEqual([]);
    await vi.runAllTimersAsync();
    expect(s.connections.getState().snapshot).toEqual(snaps[69]);
    // Snapshot 30 is gone and 31..60 never reached the charts: 1..29 and 61..70 did.
    expect(s.samples.window(1000, 0, Infinity, 10_000)[0]?.points).toHaveLength(29 + 10);
  });
});

describe('counters as changes', () => {
  /** n readings of 76 counters, 3 of which move. */
  function readings(n: number) {
    return Array.from({ length: n }, (_, i) => {
      const counters: Record<string, number> = {};
      for (let k = 0; k < 76; k++) counters[`MPTcpExtCounter${k}`] = 1000 + k;
      counters.MPJoinSynRx = 10 + i;
      counters.MPCapableSYNRX = 5 + 2 * i;
      counters.MPJoinRejected = Math.floor(i / 7);
      return { takenAtMs: T0 + i * 1000, counters };
    });
  }

  function record(rs: ReturnType<typeof readings>): string {
    const rec = new Recorder(T0);
    for (const r of rs) expect(rec.add({ tMs: r.takenAtMs, type: 'counters', counters: r })).toBe(true);
    return rec.text();
  }

  it('writes a whole reading first and every 60, only changes between, and reads back every reading whole', () => {
    const rs = readings(130);
    const text = record(rs);
    const lines = text.trim().split('\n').slice(1);
    expect(lines.flatMap((l, i) => (l.includes('"partial":true') ? [] : [i]))).toEqual([0, 60, 120]);
    expect(JSON.parse(lines[1]!)).toEqual({
      t: T0 + 1000,
      type: 'counters',
      seq: 2,
      partial: true,
      data: { takenAtMs: T0 + 1000, counters: { MPJoinSynRx: 11, MPCapableSYNRX: 7 } },
    });
    expect(text.length).toBeLessThan((JSON.stringify(rs[0]).length * rs.length) / 10);
    const parsed = parseRecording(text);
    expect(parsed.errors).toEqual([]);
    expect(parsed.entries.map((e) => (e.type === 'counters' ? e.counters : null))).toEqual(rs);
  });

  it('writes a whole reading when a counter disappears', () => {
    const rs = readings(3);
    delete rs[2]!.counters.MPTcpExtCounter5;
    const lines = record(rs).trim().split('\n').slice(1);
    expect(lines.map((l) => l.includes('"partial":true'))).toEqual([false, true, false]);
    expect(
      parseRecording(record(rs)).entries.map((e) => (e.type === 'counters' ? e.counters : null)),
    ).toEqual(rs);
  });

  it('skips changes whose base reading is missing, saying so by line, until the next whole reading', () => {
    const rs = readings(70);
    const lines = record(rs).split('\n');
    lines[31] = '{"t": broken'; // reading 30, seq 31 (line 1 is the header)
    const parsed = parseRecording(lines.join('\n'));
    expect(parsed.errors[0]).toEqual({ line: 32, message: expect.stringMatching(/not JSON/) as unknown });
    expect(parsed.errors.slice(1).map((e) => e.line)).toEqual(Array.from({ length: 29 }, (_, i) => 33 + i));
    expect(parsed.errors[1]?.message).toBe('counters changes against reading 31, which is missing; skipped');
    const got = parsed.entries.map((e) => (e.type === 'counters' ? e.counters : null));
    expect(got).toEqual([...rs.slice(0, 30), ...rs.slice(60)]);
  });

  it('a bad line of another kind costs no counters, and shuffled lines still resolve', () => {
    const rs = readings(10);
    const lines = record(rs).trim().split('\n');
    const body = [...lines.slice(1, 4), '{"t": 1, "type": "event", "data": {}}', ...lines.slice(4)];
    const shuffled = [lines[0]!, ...body.reverse()].join('\n');
    const parsed = parseRecording(shuffled);
    expect(parsed.errors).toHaveLength(1); // the event line
    expect(parsed.entries.map((e) => (e.type === 'counters' ? e.counters : null))).toEqual(rs);
  });

  it('reads a version 2 recording, whose counters lines are all whole', () => {
    const rs = readings(3);
    const text = [
      JSON.stringify({ format: 'mptcp-studio-recording', version: 2, startedAtMs: T0 }),
      ...rs.map((r) => JSON.stringify({ t: r.takenAtMs, type: 'counters', data: r })),
    ].join('\n');
    const parsed = parseRecording(text);
    expect(parsed.errors).toEqual([]);
    expect(parsed.entries.map((e) => (e.type === 'counters' ? e.counters : null))).toEqual(rs);
  });
});
