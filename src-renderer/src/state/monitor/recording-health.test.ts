import { describe, expect, it } from 'vitest';
import { subflowHealthState } from '../../../../shared/health';
import { SUBFLOW_FIELDS } from '../../../../shared/delta';
import { connection, snapshot } from '../../testing/fixtures';
import { headerLine, parseRecording, SnapshotReplayer } from './recording';

/** The subflow fields the health inputs added (shared/types.ts SubflowSchema, docs/live-data.md). */
const HEALTH_FIELDS = [
  'backoffCount',
  'probesCount',
  'deliveryRateAppLimited',
  'lastDataSentAtMs',
  'lastDataRecvAtMs',
  'lastAckRecvAtMs',
] as const;

describe('a recording made before the subflow health fields', () => {
  it('still loads and replays: defaults for the missing fields, which never judge a subflow stalled or idle', () => {
    const T0 = Date.UTC(2026, 0, 1);
    const old = snapshot({ takenAtMs: T0, connections: [connection()] });
    const json = JSON.parse(JSON.stringify(old)) as {
      connections: { subflows: Record<string, unknown>[] }[];
    };
    for (const c of json.connections) for (const s of c.subflows) for (const k of HEALTH_FIELDS) delete s[k];
    // A delta of the old codec: field codes are schema positions, and the new fields come after
    // every old one, so an old code still names the same field.
    const rtt = SUBFLOW_FIELDS.indexOf('rttUs');
    expect(rtt).toBeLessThan(SUBFLOW_FIELDS.indexOf('backoffCount'));
    const delta = {
      kind: 'delta',
      seq: 1,
      baseSeq: 0,
      takenAtMs: T0 + 60_000,
      pollDurationUs: 1,
      orphanSubflows: 0,
      changed: [{ token: old.connections[0]!.token, subflows: { changed: [{ i: 0, f: [rtt, 99_000] }] } }],
    };
    const text = [
      headerLine(T0),
      JSON.stringify({ t: T0, type: 'snapshot', seq: 0, data: json }),
      JSON.stringify({ t: T0 + 60_000, type: 'delta', data: delta }),
    ].join('\n');
    const parsed = parseRecording(text);
    expect(parsed.errors).toEqual([]);
    const replayer = new SnapshotReplayer();
    const replayed = parsed.entries.flatMap((e) =>
      e.type === 'snapshot' || e.type === 'delta' ? [replayer.apply(e)] : [],
    );
    expect(replayer.skipped).toBe(0);
    const last = replayed[replayed.length - 1];
    if (!last) throw new Error('nothing replayed');
    const subflows = last.connections[0]!.subflows;
    expect(subflows[0]!.rttUs).toBe(99_000);
    for (const s of subflows) {
      expect(s).toMatchObject({
        backoffCount: 0,
        probesCount: 0,
        deliveryRateAppLimited: false,
        lastDataSentAtMs: null,
        lastDataRecvAtMs: null,
        lastAckRecvAtMs: null,
      });
      // A minute later, with unknown times: neither idle nor stalled.
      expect(subflowHealthState(s, last.takenAtMs)).toBe('active');
    }
  });
});
