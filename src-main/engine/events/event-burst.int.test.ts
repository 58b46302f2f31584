/**
 * Bursts of kernel events: thousands of MPTCP connections opened and reset at once. Every event
 * must reach the engine's stream or be reported lost with the kernel's own count; the count is
 * checked against the connections the lab opened (4 events each on the way up: created,
 * established, announced, sub_established; closed on the way down).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_DROPPED_CODE } from '../../../shared/contract';
import type { KernelEvent } from '../../../shared/types';
import {
  bundleProbe,
  Lab,
  labUnavailableReason,
  netlinkSockets,
  nsRun,
  waitNetlinkDrained,
} from '../../lab/lab';
import { openEngine, type EngineService } from '../index';

const root = join(import.meta.dirname, '..', '..', '..');
const probe = join(root, '.cache', 'events-probe.mjs');
const UP_KINDS = ['created', 'established', 'announced', 'sub_established'] as const;

/** The number in "The kernel dropped N MPTCP events…" (KernelEventWatcher's notice). */
function droppedIn(messages: readonly string[]): number {
  let n = 0;
  for (const m of messages) {
    const hit = /dropped ([\d,]+) MPTCP event/.exec(m);
    if (!hit) throw new Error(`not a drop count: ${m}`);
    n += Number(hit[1]!.replace(/,/g, ''));
  }
  return n;
}

interface ReaderStats {
  direct: boolean;
  portId: number;
  batches: number;
  pid: number | null;
  restarts: number;
}

interface ProbeOut {
  counts: Record<string, number>;
  lost: string[];
  links: { name: string; timestampMs: number }[];
  readers: { mptcp: ReaderStats | null };
}

/** events-probe.ts in `ns`: resolves once subscribed; stop() ends it and returns its counts. */
async function startProbe(
  ns: string,
  args: string[],
): Promise<{
  ready: { readers: ProbeOut['readers'] };
  stop: (signal?: 'SIGTERM' | 'SIGINT') => Promise<ProbeOut>;
}> {
  // A process group of its own, so that a test can signal it as a terminal would.
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, probe, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const nextLine = async (): Promise<string> => {
    while (lines.length === 0) {
      const code = await Promise.race([exited, new Promise<'line'>((r) => waiters.push(() => r('line')))]);
      if (code !== 'line' && lines.length === 0) throw new Error(`events probe exited (${code}): ${stderr}`);
    }
    return lines.shift()!;
  };
  const first = await nextLine();
  if (!first.startsWith('ready ')) throw new Error(`events probe: ${first} ${stderr}`);
  return {
    ready: JSON.parse(first.slice(6)) as { readers: ProbeOut['readers'] },
    /** SIGTERM to the probe; SIGINT to its whole process group, as a terminal's Ctrl-C. */
    stop: async (signal = 'SIGTERM') => {
      if (signal === 'SIGINT') process.kill(-child.pid!, 'SIGINT');
      else child.kill('SIGTERM');
      const out = JSON.parse(await nextLine()) as ProbeOut;
      // The readers closed, the process must end on its own (no thread left running), and cleanly.
      expect(await exited).toBe(0);
      expect(stderr).not.toMatch(/terminate called|Error in native callback/);
      return out;
    },
  };
}

/** MPTCP connections and established subflows to the lab server in `ns`, as `ss` lists them. */
async function kernelView(ns: string): Promise<{ connections: number; subflows: number }> {
  const [mptcp, tcp] = await Promise.all([
    nsRun(ns, 'ss', ['-MHn']),
    nsRun(ns, 'ss', ['-tnH', 'state', 'established', 'dport', '=', ':5201']),
  ]);
  const count = (out: string): number => out.split('\n').filter((l) => l.trim() !== '').length;
  return { connections: count(mptcp.stdout), subflows: count(tcp.stdout) };
}

/**
 * The probe says nothing until it is stopped, so wait for what it is to have received instead of
 * a while: the kernel has sent every event of the lab's connections once `ss` shows them all
 * up (each with its second subflow) or all gone (the client resets them: closed at once), and the
 * probe has them once its sockets are read empty (waitNetlinkDrained).
 */
async function probeHasEvents(lab: Lab, want: { connections: number; subflows: number }): Promise<void> {
  await lab.waitFor(
    `ss: ${want.connections} MPTCP connections, ${want.subflows} subflows`,
    () => kernelView(lab.client),
    (v) => v.connections === want.connections && v.subflows === want.subflows,
    30_000,
  );
  await waitNetlinkDrained(lab.client);
}

describe.skipIf(labUnavailableReason() !== null)('kernel event bursts', () => {
  let lab: Lab;
  beforeAll(async () => {
    await bundleProbe('src-main/lab/probes/events-probe.ts', 'events-probe.mjs');
    lab = await Lab.create({ paths: 2 });
    await lab.startServer(5201);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  describe('through the engine (namespace agent, contract event stream)', () => {
    let engine: EngineService;
    afterEach(async () => {
      await engine?.close();
    });

    it('delivers every event of 2,000 connections opened at once and reset, or counts what the kernel dropped', async () => {
      const N = 2000;
      engine = openEngine({ netns: lab.client });
      const counts: Record<string, number> = {};
      const lostNotices: string[] = [];
      engine.on('mptcp:kernel:event', (e: KernelEvent) => {
        if (e.source === 'mptcp') counts[e.event.kind] = (counts[e.event.kind] ?? 0) + 1;
      });
      engine.on('mptcp:engine:error', (e) => {
        if (e.code === EVENTS_DROPPED_CODE) lostNotices.push(e.message);
      });
      const watch = await engine.invoke('mptcp:events:watch', { on: true });
      expect(watch).toMatchObject({ ok: true, value: { mptcp: true } });

      const conns = await lab.openConnections(N, { rateBytesPerSec: 0, abortOnStop: true });
      const upSeen = (): number => UP_KINDS.reduce((a, k) => a + (counts[k] ?? 0), 0);
      await lab.waitFor(
        'the events of the burst',
        () => Promise.resolve(upSeen() + droppedIn(lostNotices)),
        (n) => n >= 4 * N,
        30_000,
      );
      await conns.stop();
      await lab.waitFor(
        'the closes',
        () => Promise.resolve((counts.closed ?? 0) + droppedIn(lostNotices)),
        (n) => n >= 5 * N - upSeen(),
        30_000,
      );
      await new Promise((r) => setTimeout(r, 300));
      // Delivered + reported lost = what the kernel sent, exactly. Before the reader thread the
      // main thread lost half of the created events of such a burst and said nothing.
      expect(upSeen() + (counts.closed ?? 0) + droppedIn(lostNotices)).toBe(5 * N);
      // With the 4 MiB asked for (when net.core.rmem_max allows it, as on this project's
      // machines) none is lost at all.
      if (Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8')) >= 4 * 2 ** 20) {
        expect(lostNotices).toEqual([]);
        for (const k of [...UP_KINDS, 'closed']) expect(counts[k], k).toBe(N);
      }
    }, 90_000);
  });

  it('reports what an overflowing socket lost, with the kernel’s drop count, and keeps running', async () => {
    const N = 300;
    // A 16 KiB buffer and a reader that waits 300 ms off its event loop at each wake-up: the
    // burst overflows the socket and the ENOBUFS comes out of read(2).
    const p = await startProbe(lab.client, ['16384', '300']);
    expect(p.ready.readers.mptcp?.direct).toBe(true);
    const conns = await lab.openConnections(N, { rateBytesPerSec: 0, abortOnStop: true });
    await probeHasEvents(lab, { connections: N, subflows: 2 * N });
    await conns.stop();
    await probeHasEvents(lab, { connections: 0, subflows: 0 });
    const out = await p.stop();
    const seen = [...UP_KINDS, 'closed'].reduce((a, k) => a + (out.counts[k] ?? 0), 0);
    // On a loaded machine the overflow can land while the reader waits in the binding's poll
    // rather than in our read(2): the binding then aborts the reader process ("Error in native
    // callback", a bug of the `netlink` package; docs/live-data.md), the owner restarts it and
    // says so, and exact accounting is impossible. That outcome is checked for what it promises
    // (the loss said, the restart done, the engine alive), the usual one for the exact count.
    const aborted = out.lost.filter((m) => /events reader exited \(SIGABRT\).*restarted/.test(m));
    if (aborted.length > 0) {
      expect(out.readers.mptcp?.restarts).toBeGreaterThanOrEqual(1);
      expect(seen).toBeLessThanOrEqual(5 * N);
      const counted = out.lost.filter((m) => !aborted.includes(m));
      expect(seen + droppedIn(counted)).toBeLessThanOrEqual(5 * N);
      return;
    }
    const dropped = droppedIn(out.lost);
    expect(dropped).toBeGreaterThan(0);
    expect(seen + dropped).toBe(5 * N);
  }, 60_000);

  it('a reader process that dies is restarted, the loss is said, and the events after it arrive', async () => {
    const N = 20;
    const p = await startProbe(lab.client, []);
    const pid = p.ready.readers.mptcp?.pid;
    const portId = p.ready.readers.mptcp?.portId;
    expect(pid).toEqual(expect.any(Number));
    // As the netlink binding's abort on an overflow seen by its poll would end it.
    process.kill(pid!, 'SIGKILL');
    // The owner starts another reader: wait for its socket (NETLINK_GENERIC, a new port id).
    await lab.waitFor(
      'the restarted events reader',
      () => netlinkSockets(lab.client),
      (rows) => rows.some((r) => r.protocol === 16 && r.portId !== 0 && r.portId !== portId),
    );
    const conns = await lab.openConnections(N, { rateBytesPerSec: 0, abortOnStop: true });
    await probeHasEvents(lab, { connections: N, subflows: 2 * N });
    await conns.stop();
    await probeHasEvents(lab, { connections: 0, subflows: 0 });
    const out = await p.stop();
    expect(out.readers.mptcp?.restarts).toBe(1);
    expect(out.readers.mptcp?.pid).not.toBe(pid);
    expect(out.lost).toEqual([
      expect.stringMatching(/MPTCP events socket: the events reader exited \(SIGKILL\).*restarted/),
    ]);
    for (const k of [...UP_KINDS, 'closed']) expect(out.counts[k], k).toBe(N);
  }, 60_000);

  it('reads on the binding’s path when the socket’s fd cannot be found, and gets the events', async () => {
    const N = 20;
    // On a reader thread (the other tests run the default, a reader process).
    const p = await startProbe(lab.client, ['0', '0', '/nonexistent', 'thread']);
    expect(p.ready.readers.mptcp?.direct).toBe(false);
    expect(p.ready.readers.mptcp?.pid).toBeNull();
    const conns = await lab.openConnections(N, { rateBytesPerSec: 0, abortOnStop: true });
    await probeHasEvents(lab, { connections: N, subflows: 2 * N });
    await conns.stop();
    await probeHasEvents(lab, { connections: 0, subflows: 0 });
    const out = await p.stop();
    expect(out.lost).toEqual([]);
    for (const k of [...UP_KINDS, 'closed']) expect(out.counts[k], k).toBe(N);
  }, 60_000);

  it('stamps each event when the reader read it, not when a busy engine got to it', async () => {
    // The probe blocks its main thread for 1.5 s at the first link event; the second link is
    // created 0.5 s after the first, while it is blocked. Stamped at decode (the old way), the
    // two would be ~1.5 s apart.
    const p = await startProbe(lab.client, ['0', '0', '', '', '1500']);
    const addVeth = (name: string): void => {
      execFileSync('ip', ['-n', lab.client, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
    };
    addVeth('stampa');
    await new Promise((r) => setTimeout(r, 500));
    addVeth('stampb');
    await new Promise((r) => setTimeout(r, 2500));
    const out = await p.stop();
    const first = (name: string): number => {
      const l = out.links.find((x) => x.name === name);
      if (!l) throw new Error(`no link event for ${name}: ${JSON.stringify(out.links)}`);
      return l.timestampMs;
    };
    const gapMs = first('stampb') - first('stampa');
    expect(gapMs).toBeGreaterThanOrEqual(450);
    expect(gapMs).toBeLessThan(1100);
  }, 60_000);

  it('a Ctrl-C to the process group reaches the owner only: its reader is not seen to die', async () => {
    const p = await startProbe(lab.client, []);
    expect(p.ready.readers.mptcp?.pid).toEqual(expect.any(Number));
    const out = await p.stop('SIGINT'); // the probe stops its readers 0.5 s later
    expect(out.lost).toEqual([]);
    expect(out.readers.mptcp?.restarts).toBe(0);
  }, 30_000);
});
