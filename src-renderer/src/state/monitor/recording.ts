/**
 * Recordings: NDJSON, one JSON value per line. Line 1 is the header
 * `{"format":"mptcp-studio-recording","version":2,"startedAtMs":…}`; every other line is
 * `{"t":<ms received>,"type":"snapshot","data":ConnectionsSnapshot}`,
 * `{"t":…,"type":"event","data":KernelEvent}`, `{"t":…,"type":"pm","data":PmAction}` (the engine's
 * path-manager actions) or `{"t":…,"type":"counters","data":MptcpCounters}` (every MPTcpExt
 * counter, absolute, at each sample). Version 1 files (snapshots and events only) still replay.
 * Reading validates each line with the contract's schemas and reports bad lines by number instead
 * of trusting or dropping them silently.
 */
import { z } from 'zod';
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
export const RECORDING_VERSION = 2;

export type RecordedEntry =
  | { tMs: number; type: 'snapshot'; snapshot: ConnectionsSnapshot }
  | { tMs: number; type: 'event'; event: KernelEvent }
  | { tMs: number; type: 'pm'; action: PmAction }
  | { tMs: number; type: 'counters'; counters: MptcpCounters };

const HeaderSchema = z.object({
  format: z.literal(RECORDING_FORMAT),
  version: z.union([z.literal(1), z.literal(RECORDING_VERSION)]),
  startedAtMs: z.number().optional(),
});

const LineSchema = z.discriminatedUnion('type', [
  z.object({ t: z.number(), type: z.literal('snapshot'), data: ConnectionsSnapshotSchema }),
  z.object({ t: z.number(), type: z.literal('event'), data: KernelEventSchema }),
  z.object({ t: z.number(), type: z.literal('pm'), data: PmActionSchema }),
  z.object({ t: z.number(), type: z.literal('counters'), data: MptcpCountersSchema }),
]);

export function headerLine(startedAtMs: number): string {
  return JSON.stringify({ format: RECORDING_FORMAT, version: RECORDING_VERSION, startedAtMs });
}

export function entryLine(e: RecordedEntry): string {
  const data =
    e.type === 'snapshot'
      ? e.snapshot
      : e.type === 'event'
        ? e.event
        : e.type === 'pm'
          ? e.action
          : e.counters;
  return JSON.stringify({ t: e.tMs, type: e.type, data });
}

function toEntry(v: z.infer<typeof LineSchema>): RecordedEntry {
  switch (v.type) {
    case 'snapshot':
      return { tMs: v.t, type: 'snapshot', snapshot: v.data };
    case 'event':
      return { tMs: v.t, type: 'event', event: v.data };
    case 'pm':
      return { tMs: v.t, type: 'pm', action: v.data };
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
        : `not a recording: the first line must be {"format":"${RECORDING_FORMAT}","version":${RECORDING_VERSION}} (or version 1)`;
    return { entries, errors: [{ line: first + 1, message }] };
  }
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
    entries.push(toEntry(parsed.data));
  }
  entries.sort((a, b) => a.tMs - b.tMs);
  return { entries, errors };
}

/** Growing NDJSON text in memory; stops accepting past `maxChars` (the caller says so). */
export class Recorder {
  private readonly chunks: string[] = [];
  private chars = 0;
  lines = 0;
  full = false;

  constructor(
    readonly startedAtMs: number,
    private readonly maxChars = 200 * 1024 * 1024,
  ) {
    this.append(headerLine(startedAtMs));
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

  add(entry: RecordedEntry): boolean {
    if (this.full) return false;
    const ok = this.append(entryLine(entry));
    if (ok) this.lines++;
    return ok;
  }

  get sizeChars(): number {
    return this.chars;
  }

  text(): string {
    return this.chunks.join('');
  }
}
