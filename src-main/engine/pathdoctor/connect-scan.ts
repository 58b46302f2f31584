/**
 * `scan --mode connect`: no privilege at all. The kernel does the handshake: the helper
 * (native/mptcp-probe-connect.h) opens IPPROTO_MPTCP sockets, which Node cannot, and reports per
 * target whether the connection is MPTCP (TCP_IS_MPTCP, Linux 6.10+; MPTCP_INFO), how many SYNs
 * it took, and whether it fell back after a little data (a box that strips DSS). Only v1 can be
 * seen this way (Linux speaks nothing else), and a mirroring box cannot be told from a server.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ScanRecord, ScanResult } from '../../../shared/path-doctor';
import { countOf } from '../../../shared/units';
import { helperCommand, probeHelperPath } from './helper';
import type { Target } from './targets';

export interface ConnectScanOptions {
  targets: readonly Target[];
  ports: readonly number[];
  /** New connections per second. */
  ratePps: number;
  concurrency?: number;
  timeoutMs?: number;
  netns?: string | null;
  helperPath?: string;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, sent: number) => void;
  onRecord?: (r: ScanRecord) => void;
}

/** What the helper prints per target (run_connect). */
interface ConnectLine {
  addr: string;
  port: number;
  result: 'mptcp' | 'fallback' | 'tcp' | 'refused' | 'timeout' | 'unreachable' | 'error';
  errno: string | null;
  connectMs?: number;
  synRetrans?: number;
  mptcpAtConnect?: number;
  mptcpAfterData?: number;
  note?: string;
}

/**
 * Linux retransmits an MP_CAPABLE SYN net.mptcp.syn_retrans_before_tcp_fallback times (2 by
 * default) before it drops the option (Documentation/networking/mptcp-sysctl.rst): a plain-TCP
 * connection that took that many retransmissions met a box that drops MP_CAPABLE SYNs.
 */
export const SYN_RETRANS_BEFORE_FALLBACK = 2;

export function classifyConnect(l: ConnectLine, t: Target | undefined): ScanRecord {
  const base = {
    target: l.addr,
    host: t?.host ?? null,
    port: l.port,
    mptcp: null,
    join: null,
    probes: 1 + (l.synRetrans ?? 0),
  };
  const rttMs = l.connectMs !== undefined && l.connectMs >= 0 ? l.connectMs : null;
  switch (l.result) {
    case 'mptcp':
      return {
        ...base,
        class: 'mptcp-v1',
        mptcp: { version: 1, checksumRequired: false, denyJoinInitialAddress: false },
        fallback: null,
        rttMs,
        reason: 'MPTCP connection established and still MPTCP after data',
      };
    case 'fallback':
      return {
        ...base,
        class: 'tcp',
        fallback: 'data',
        rttMs,
        reason:
          'MPTCP at the handshake, fell back to TCP after data (DSS stripped: MPCapableDataFallback / DssFallback)',
      };
    case 'tcp':
      if ((l.synRetrans ?? 0) >= SYN_RETRANS_BEFORE_FALLBACK)
        return {
          ...base,
          class: 'syn-blackhole',
          fallback: 'handshake',
          rttMs,
          reason: `MP_CAPABLE SYNs went unanswered (${countOf(l.synRetrans ?? 0, 'retransmission')}); the kernel fell back to a plain SYN, which was answered`,
        };
      return {
        ...base,
        class: 'tcp',
        fallback: 'handshake',
        rttMs,
        reason: 'the server answered without MPTCP',
      };
    case 'refused':
      return { ...base, class: 'closed', fallback: null, rttMs, reason: 'connection refused (RST)' };
    case 'timeout':
      return {
        ...base,
        class: 'filtered',
        fallback: null,
        rttMs: null,
        reason: 'no answer before the timeout',
      };
    case 'unreachable':
      return {
        ...base,
        class: 'filtered',
        fallback: null,
        rttMs: null,
        reason: `unreachable (${l.errno ?? 'error'})`,
      };
    case 'error':
      throw new Error(`connect mode: ${l.note ?? l.errno ?? 'error'}`);
  }
}

export async function connectScan(o: ConnectScanOptions): Promise<ScanResult> {
  const startMs = Date.now();
  const total = o.targets.length * o.ports.length;
  // Long enough for the kernel's own fallback after dropped MP_CAPABLE SYNs (1 s + 2 s of RTO).
  const timeoutMs = o.timeoutMs ?? 5000;
  const [cmd, args] = helperCommand(
    ['connect', '--timeout-ms', String(timeoutMs), '--concurrency', String(o.concurrency ?? 64)],
    o.netns,
    o.helperPath ?? probeHelperPath(),
  );
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const byKey = new Map(o.targets.map((t) => [t.text, t]));
  const records: ScanRecord[] = [];
  const failed: { error: Error | null } = { error: null };
  const lines = createInterface({ input: child.stdout });
  const finished = new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      let l: ConnectLine & { summary?: boolean };
      try {
        l = JSON.parse(line) as ConnectLine & { summary?: boolean };
      } catch {
        return;
      }
      if (l.summary) return;
      try {
        const r = classifyConnect(l, byKey.get(l.addr));
        records.push(r);
        o.onRecord?.(r);
        o.onProgress?.(records.length, total, sent);
      } catch (e) {
        failed.error = e as Error;
        child.kill('SIGTERM');
      }
    });
    child.once('exit', () => resolve());
  });
  child.stdin.on('error', () => undefined);
  let sent = 0;
  // Lines go out in batches of 10 ms worth of connections, then a pause of those 10 ms.
  const batch = Math.max(1, Math.floor(o.ratePps / 100));
  const pauseMs = (1000 * batch) / o.ratePps;
  const abort = (): void => {
    child.kill('SIGTERM');
  };
  o.signal?.addEventListener('abort', abort);
  try {
    for (const t of o.targets) {
      for (const port of o.ports) {
        if (o.signal?.aborted || failed.error) break;
        child.stdin.write(`${t.text} ${port}\n`);
        sent++;
        // Pace new connections; the helper's own concurrency cap bounds what is open at once.
        if (sent % batch === 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    }
    child.stdin.end();
    await finished;
  } finally {
    o.signal?.removeEventListener('abort', abort);
  }
  if (failed.error) throw failed.error;
  if (records.length === 0 && total > 0 && !o.signal?.aborted)
    throw new Error(`connect mode failed: ${stderr.trim() || 'no output'}`);
  const counts: Record<string, number> = {};
  for (const r of records) counts[r.class] = (counts[r.class] ?? 0) + 1;
  return {
    records,
    summary: {
      mode: 'connect',
      targets: o.targets.length,
      ports: [...o.ports],
      probesSent: sent,
      elapsedMs: Date.now() - startMs,
      ratePps: o.ratePps,
      cancelled: o.signal?.aborted ?? false,
      counts,
    },
  };
}
