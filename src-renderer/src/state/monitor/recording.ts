/**
 * Recordings: NDJSON, one JSON value per line. Line 1 is the header
 * `{"format":"mptcp-studio-recording","version":3,"startedAtMs":…}`; every other line is
 * `{"t":<ms received>,"type":"snapshot","seq":N,"data":ConnectionsSnapshot}` (a whole snapshot),
 * `{"t":…,"type":"delta","data":ConnectionsDelta}` (what changed since snapshot `baseSeq`, as
 * the host↔renderer feed sends it: shared/delta.ts), `{"t":…,"type":"event","data":KernelEvent}`, `{"t":…,"type":"pm","data":PmAction}` (the engine's
 * path-manager actions), `{"t":…,"type":"failover","data":FailoverEvent}` (the host's failover
 * events; a reader without them reports such lines as bad, nothing else) or
 * `{"t":…,"type":"counters","data":MptcpCounters}` (the MPTcpExt
 * counters, absolute, at each sample, numbered by `seq`; with `"partial":true` only those that
 * changed since reading `seq - 1`, a whole reading first and every KEYFRAME_EVERY). Version 2 files
 * (every counter line whole) and version 1 files (snapshots and events only) still replay.
 * Reading validates each line with the contract's schemas and reports bad lines by number instead
 * of trusting or dropping them silently.
 */
import { z } from 'zod';
import {
  applyDelta,
  ConnectionsDeltaSchema,
  diffSnapshots,
  type ConnectionsDelta,
} from '../../../../shared/delta';
import { FailoverEventSchema, type FailoverEvent } from '../../../../shared/failover';
import { PmActionSchema, type PmAction } from '../../../../shared/pm';
import {
  ConnectionsSnapshotSchema,
  KernelEventSchema,
  MptcpCountersSchema,
  type ConnectionsSnapshot,
  type KernelEvent,
  type MptcpCounters,
} from '../../../../shared/types';

export const RECORDING_FORMAT = 'mptcp-studio-recording';
export const RECORDING_VERSION = 3;

export type RecordedEntry =
  | { tMs: number; type: 'snapshot'; snapshot: ConnectionsSnapshot; seq?: number }
  | { tMs: number; type: 'delta'; delta: ConnectionsDelta }
  | { tMs: number; type: 'event'; event: KernelEvent }
  | { tMs: number; type: 'pm'; action: PmAction }
  | { tMs: number; type: 'failover'; failover: FailoverEvent }
  | { tMs: number; type: 'counters'; counters: MptcpCounters };

const HeaderSchema = z.object({
  format: z.literal(RECORDING_FORMAT),
  version: z.union([z.literal(1), z.literal(2), z.literal(RECORDING_VERSION)]),
  startedAtMs: z.number().optional(),
});

const LineSchema = z.discriminatedUnion('type', [
  z.object({
    t: z.number(),
    type: z.literal('snapshot'),
    seq: z.number().int().min(0).optional(),
    data: ConnectionsSnapshotSchema,
  }),
  z.object({ t: z.number(), type: z.literal('delta'), data: ConnectionsDeltaSchema }),
  z.object({ t: z.number(), type: z.literal('event'), data: KernelEventSchema }),
  z.object({ t: z.number(), type: z.literal('pm'), data: PmActionSchema }),
  z.object({ t: z.number(), type: z.literal('failover'), data: FailoverEventSchema }),
  z.object({
    t: z.number(),
    type: z.literal('counters'),
    seq: z.number().int().min(1).optional(),
    partial: z.literal(true).optional(),
    data: MptcpCountersSchema,
  }),
]);

export function headerLine(startedAtMs: number): string {
  return JSON.stringify({ format: RECORDING_FORMAT, version: RECORDING_VERSION, startedAtMs });
}

export function entryLine(e: RecordedEntry): string {
  switch (e.type) {
    case 'snapshot':
      return JSON.stringify({
        t: e.tMs,
        type: e.type,
        ...(e.seq !== undefined ? { seq: e.seq } : {}),
        data: e.snapshot,
      });
    case 'delta':
      return JSON.stringify({ t: e.tMs, type: e.type, data: e.delta });
    case 'event':
      return JSON.stringify({ t: e.tMs, type: e.type, data: e.event });
    case 'pm':
      return JSON.stringify({ t: e.tMs, type: e.type, data: e.action });
    case 'failover':
      return JSON.stringify({ t: e.tMs, type: e.type, data: e.failover });
    case 'counters':
      return JSON.stringify({ t: e.tMs, type: e.type, data: e.counters });
  }
}

/**
 * A counters reading as line number `seq`: whole, or (with `before`, reading `seq - 1`) the
 * counters that differ from it.
 */
function countersLine(
  tMs: number,
  seq: number,
  counters: MptcpCounters,
  before: MptcpCounters | null,
): string {
  if (before === null) return JSON.stringify({ t: tMs, type: 'counters', seq, data: counters });
  const changed: Record<string, number> = {};
  for (const [k, v] of Object.entries(counters.counters)) if (before.counters[k] !== v) changed[k] = v;
  return JSON.stringify({
    t: tMs,
    type: 'counters',
    seq,
    partial: true,
    data: { takenAtMs: counters.takenAtMs, counters: changed },
  });
}

function toEntry(v: z.infer<typeof LineSchema>): RecordedEntry {
  switch (v.type) {
    case 'snapshot':
      return v.seq !== undefined
        ? { tMs: v.t, type: 'snapshot', snapshot: v.data, seq: v.seq }
        : { tMs: v.t, type: 'snapshot', snapshot: v.data };
    case 'delta':
      return { tMs: v.t, type: 'delta', delta: v.data };
    case 'event':
      return { tMs: v.t, type: 'event', event: v.data };
    case 'pm':
      return { tMs: v.t, type: 'pm', action: v.data };
    case 'failover':
      return { tMs: v.t, type: 'failover', failover: v.data };
    case 'counters':
      return { tMs: v.t, type: 'counters', counters: v.data };
  }
}

export interface LineError {
  /** 1-based, as an editor shows it. */
  line: number;
  message: string;
}

export interface ParsedRecording {
  entries: RecordedEntry[];
  errors: LineError[];
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, message: `not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
}

/** Parse a recording; entries come back in time order even if lines were shuffled. */
export function parseRecording(text: string): ParsedRecording {
  const lines = text.split('\n');
  const errors: LineError[] = [];
  const entries: RecordedEntry[] = [];
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) return { entries, errors: [{ line: 1, message: 'the file is empty' }] };
  const header = parseJson(lines[first] ?? '');
  if (!header.ok || !HeaderSchema.safeParse(header.value).success) {
    const h = header.ok ? (header.value as { format?: unknown; version?: unknown } | null) : null;
    const message =
      h?.format === RECORDING_FORMAT
        ? `recording format version ${JSON.stringify(h.version)} is not one this app reads (1 to ${RECORDING_VERSION})`
        : `not a recording: the first line must be {"format":"${RECORDING_FORMAT}","version":${RECORDING_VERSION}} (or an earlier version)`;
    return { entries, errors: [{ line: first + 1, message }] };
  }
  const countersLines: { line: number; v: Extract<z.infer<typeof LineSchema>, { type: 'counters' }> }[] = [];
  for (let i = first + 1; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    if (raw.trim() === '') continue;
    const json = parseJson(raw);
    if (!json.ok) {
      errors.push({ line: i + 1, message: json.message });
      continue;
    }
    const parsed = LineSchema.safeParse(json.value);
    if (!parsed.success) {
      errors.push({ line: i + 1, message: describe(parsed.error) });
      continue;
    }
    if (parsed.data.type === 'counters') countersLines.push({ line: i + 1, v: parsed.data });
    else entries.push(toEntry(parsed.data));
  }
  // Counters in reading order (`seq`; a version 2 file has none: file order). A partial reading
  // applies to the reading just before it only: after a lost or bad one, they are skipped up to
  // the next whole reading.
  countersLines.sort((a, b) => (a.v.seq ?? 0) - (b.v.seq ?? 0));
  let counters: { seq: number | undefined; reading: MptcpCounters } | null = null;
  for (const { line, v } of countersLines) {
    if (v.partial) {
      const baseSeq = v.seq === undefined ? undefined : v.seq - 1;
      if (counters === null || baseSeq === undefined || counters.seq !== baseSeq) {
        errors.push({
          line,
          message: `counters changes against reading ${baseSeq ?? '?'}, which is missing; skipped`,
        });
        continue;
      }
      const base: Record<string, number> = counters.reading.counters;
      counters = {
        seq: v.seq,
        reading: { takenAtMs: v.data.takenAtMs, counters: { ...base, ...v.data.counters } },
      };
    } else counters = { seq: v.seq, reading: v.data };
    entries.push({ tMs: v.t, type: 'counters', counters: counters.reading });
  }
  entries.sort((a, b) => a.tMs - b.tMs);
  return { entries, errors };
}

/** A whole snapshot every this many recorded snapshots, so a bad line costs at most this many. */
export const KEYFRAME_EVERY = 60;

/**
 * Growing NDJSON text in memory; stops accepting past `maxChars` (the caller says so). Snapshots
 * are written as deltas against the one before (shared/delta.ts), with a whole one first and every
 * KEYFRAME_EVERY: an idle connection then costs a few bytes per second instead of its whole
 * snapshot, so hours of many connections fit under the cap.
 */
export class Recorder {
  private readonly chunks: string[] = [];
  private chars = 0;
  lines = 0;
  full = false;
  private last: ConnectionsSnapshot | null = null;
  private seq = 0;
  private lastCounters: MptcpCounters | null = null;
  private countersLines = 0;

  constructor(
    readonly startedAtMs: number,
    private readonly maxChars = 200 * 1024 * 1024,
  ) {
    this.append(headerLine(startedAtMs));
  }

  /** The line for a snapshot: whole (with its seq) or as a delta against the last one written. */
  private encodeSnapshot(tMs: number, snapshot: ConnectionsSnapshot): RecordedEntry {
    const seq = this.seq + 1;
    return this.last === null || seq % KEYFRAME_EVERY === 1
      ? { tMs, type: 'snapshot', snapshot, seq }
      : { tMs, type: 'delta', delta: diffSnapshots(this.last, snapshot, seq, this.seq) };
  }

  private append(line: string): boolean {
    if (this.chars + line.length + 1 > this.maxChars) {
      this.full = true;
      return false;
    }
    this.chunks.push(line, '\n');
    this.chars += line.length + 1;
    return true;
  }

  /**
   * Counters as changes against the last reading written (76 MPTcpExt counters whole at every
   * sample were ~8 MB an hour, most of them unchanged): whole first, every KEYFRAME_EVERY, and
   * when a counter the last reading had is gone.
   */
  private encodeCounters(tMs: number, counters: MptcpCounters): string {
    const before = this.lastCounters;
    const whole =
      before === null ||
      this.countersLines % KEYFRAME_EVERY === 0 ||
      Object.keys(before.counters).some((k) => !(k in counters.counters));
    return countersLine(tMs, this.countersLines + 1, counters, whole ? null : before);
  }

  add(entry: RecordedEntry): boolean {
    if (this.full) return false;
    const line =
      entry.type === 'snapshot'
        ? entryLine(this.encodeSnapshot(entry.tMs, entry.snapshot))
        : entry.type === 'counters'
          ? this.encodeCounters(entry.tMs, entry.counters)
          : entryLine(entry);
    const ok = this.append(line);
    if (ok) {
      this.lines++;
      if (entry.type === 'snapshot') {
        this.last = entry.snapshot;
        this.seq++;
      } else if (entry.type === 'counters') {
        this.lastCounters = entry.counters;
        this.countersLines++;
      }
    }
    return ok;
  }

  get sizeChars(): number {
    return this.chars;
  }

  text(): string {
    return this.chunks.join('');
  }
}

/**
 * Replays the snapshot lines: a whole snapshot replaces the current one, a delta applies to it
 * when it names it as its base. A delta whose base is not the current snapshot (a line before it
 * was bad, or the file was cut) is skipped, and so are the ones after it, until the next whole
 * snapshot (at most KEYFRAME_EVERY lines later).
 */
export class SnapshotReplayer {
  private current: ConnectionsSnapshot | null = null;
  private seq: number | null = null;
  /** Deltas that could not be applied. */
  skipped = 0;

  reset(): void {
    this.current = null;
    this.seq = null;
    this.skipped = 0;
  }

  /** The snapshot after this entry, or null when the entry could not be applied. */
  apply(e: Extract<RecordedEntry, { type: 'snapshot' | 'delta' }>): ConnectionsSnapshot | null {
    if (e.type === 'snapshot') {
      this.current = e.snapshot;
      this.seq = e.seq ?? null;
      return e.snapshot;
    }
    if (this.current === null || this.seq === null || e.delta.baseSeq !== this.seq) {
      this.skipped++;
      return null;
    }
    try {
      this.current = applyDelta(this.current, e.delta);
      this.seq = e.delta.seq;
      return this.current;
    } catch {
      this.skipped++;
      this.current = null;
      this.seq = null;
      return null;
    }
  }
}
