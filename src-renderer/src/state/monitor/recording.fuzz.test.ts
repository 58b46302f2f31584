/**
 * Fuzz: the NDJSON recording parser and the snapshot replay on mutated recordings, seeded. A
 * recording written by Recorder (whole snapshots, deltas, events, PM actions, counters) is edited
 * line by line and as text; whatever the file holds, parseRecording returns entries in time order
 * and numbered errors, and replaying them never throws.
 */
import { describe, expect, it } from 'vitest';
import { prng, steadyTick, syntheticSnapshot } from '../../../../shared/testing/synthetic';
import { below, fuzzLoop, mulberry32, mutateText, pick } from '../../../../shared/testing/fuzz';
import type { KernelEvent } from '../../../../shared/types';
import { linkEvent, mptcpEvent } from '../../testing/fixtures';
import { parseRecording, Recorder, SnapshotReplayer } from './recording';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

/** A recording of 70 polls of 3 connections (two whole snapshots, deltas between), with events. */
function recordingText(): string {
  const r = prng(7);
  const rec = new Recorder(T0);
  let snap = syntheticSnapshot(r, 3, T0);
  for (let i = 0; i < 70; i++) {
    snap = steadyTick(r, snap, 1000, 0.05);
    snap = { ...snap, takenAtMs: T0 + i * 1000 };
    rec.add({ tMs: T0 + i * 1000, type: 'snapshot', snapshot: snap });
    if (i % 10 === 3) {
      const event: KernelEvent =
        i % 20 === 3
          ? mptcpEvent('sub_closed', { error: 104 }, T0 + i * 1000)
          : linkEvent(T0 + i * 1000, 'down');
      rec.add({ tMs: T0 + i * 1000 + 1, type: 'event', event });
    }
    if (i % 5 === 0) {
      rec.add({
        tMs: T0 + i * 1000 + 2,
        type: 'counters',
        counters: { takenAtMs: T0 + i * 1000, counters: { MPCapableSYNRX: i, MPJoinAckRx: 2 * i } },
      });
    }
  }
  return rec.text();
}

function mutateRecording(r: () => number, lines: string[]): string {
  const out = lines.slice();
  for (let e = 1 + below(r, 4); e > 0; e--) {
    const at = below(r, out.length);
    switch (below(r, 6)) {
      case 0:
        out[at] = mutateText(r, out[at]!);
        break;
      case 1:
        out.splice(at, 1);
        break;
      case 2:
        out.splice(at, 0, out[below(r, out.length)]!);
        break;
      case 3: {
        const k = below(r, out.length);
        [out[at], out[k]] = [out[k]!, out[at]!];
        break;
      }
      case 4:
        out[at] = pick(r, ['', '{}', '[]', 'null', '{"t":1,"type":"delta","data":{}}', '\r', '\uFEFF{']);
        break;
      default:
        out.length = at; // a cut file
    }
  }
  return out.join('\n');
}

describe('recording parser under fuzzing (seeded)', () => {
  const text = recordingText();
  const lines = text.split('\n');
  const clean = parseRecording(text);

  it('reads the clean recording whole', () => {
    expect(clean.errors).toEqual([]);
    expect(clean.entries.filter((e) => e.type === 'delta')).toHaveLength(68);
    expect(clean.entries.filter((e) => e.type === 'snapshot')).toHaveLength(2);
  });

  it('1,000 mutated recordings: entries in time order, errors on real line numbers, replay never throws', () => {
    const r = mulberry32(0x4ec0);
    let withErrors = 0;
    const ran = fuzzLoop(1000, 800, (i) => {
      const mutated = below(r, 10) === 0 ? mutateText(r, text, 12) : mutateRecording(r, lines);
      const count = mutated.split('\n').length;
      let parsed: ReturnType<typeof parseRecording>;
      try {
        parsed = parseRecording(mutated);
      } catch (e) {
        throw new Error(`seed 0x4ec0 iteration ${i}: parseRecording threw ${String(e)}`, { cause: e });
      }
      if (parsed.errors.length > 0) withErrors++;
      for (const err of parsed.errors) {
        if (!(Number.isInteger(err.line) && err.line >= 1 && err.line <= Math.max(1, count)) || !err.message)
          throw new Error(`seed 0x4ec0 iteration ${i}: error ${JSON.stringify(err)} of ${count} lines`);
      }
      for (let k = 1; k < parsed.entries.length; k++) {
        if (!(parsed.entries[k - 1]!.tMs <= parsed.entries[k]!.tMs))
          throw new Error(`seed 0x4ec0 iteration ${i}: entries out of time order at ${k}`);
      }
      const replay = new SnapshotReplayer();
      for (const e of parsed.entries) {
        if (e.type !== 'snapshot' && e.type !== 'delta') continue;
        try {
          replay.apply(e);
        } catch (x) {
          throw new Error(`seed 0x4ec0 iteration ${i}: replay threw ${String(x)}`, { cause: x });
        }
      }
    });
    expect(ran).toBeGreaterThan(100);
    expect(withErrors).toBeGreaterThan(0);
  });
});
