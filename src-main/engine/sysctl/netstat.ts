/**
 * MPTCP's per-namespace MIB counters (MPTcpExt in /proc/net/netstat): join failures, fallbacks,
 * drops. /proc/net follows the reading process's network namespace, like /proc/sys/net.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MptcpCounters } from '../../../shared/types';

/**
 * /proc/net/netstat holds pairs of lines per MIB: "Prefix: Name1 Name2 …" then
 * "Prefix: v1 v2 …". Names are kept as the kernel spells them (new counters appear by themselves).
 */
export function parseNetstat(text: string, prefix: string): Record<string, number> {
  const lines = text.split('\n');
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = lines[i] ?? '';
    const vals = lines[i + 1] ?? '';
    if (!head.startsWith(`${prefix}:`) || !vals.startsWith(`${prefix}:`)) continue;
    const names = head
      .slice(prefix.length + 1)
      .trim()
      .split(/\s+/);
    const values = vals
      .slice(prefix.length + 1)
      .trim()
      .split(/\s+/);
    if (names.length !== values.length || /^[A-Za-z]/.test(values[0] ?? '')) continue;
    names.forEach((n, j) => {
      const v = Number(values[j]);
      if (n && Number.isFinite(v)) out[n] = v;
    });
    break;
  }
  return out;
}

export async function readMptcpCounters(procRoot = '/proc'): Promise<MptcpCounters> {
  const text = await readFile(join(procRoot, 'net', 'netstat'), 'utf8').catch(() => '');
  return { takenAtMs: Date.now(), counters: parseNetstat(text, 'MPTcpExt') };
}
