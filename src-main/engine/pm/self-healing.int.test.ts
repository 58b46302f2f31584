/**
 * Failover and self-healing against the real kernel (docs/path-manager.md, "Self-healing";
 * docs/live-data.md, "Failover events"): a lab client with two paths, the engine (an agent in the
 * client's namespace, as the web host runs it) as its userspace path manager, real MPTCP traffic.
 * - A link flap: the path manager destroys the subflows of the address that went down, the host's
 *   failover events say where the traffic went, and when the link is up again the subflows are
 *   recreated at once and carry data again (`ss -tiM`), each attempt a path-manager action.
 * - A subflow reset by the peer's firewall (a real iptables REJECT with tcp-reset) closes with
 *   ECONNRESET and is recreated after the first back-off step.
 * The server uses the in-kernel path manager, announcing its second address.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FailoverEvent } from '../../../shared/failover';
import { describeFailover } from '../../../shared/failover';
import type { PmAction } from '../../../shared/pm';
import type { ConnectionsSnapshot } from '../../../shared/types';
import { Lab, ip, labUnavailableReason, nsRun } from '../../lab/lab';
import { openEngine, type EngineService } from '../index';

interface SsSubflow {
  local: string;
  remote: string;
  bytesAcked: number;
}

/** The MPTCP subflows (TCP sockets with the mptcp ULP) to port 5201 in `ns`, from `ss -tinM`. */
async function ssSubflows(ns: string): Promise<SsSubflow[]> {
  const { stdout } = await nsRun(ns, 'ss', ['-tinM']);
  const entries: string[] = [];
  for (const line of stdout.split('\n').slice(1)) {
    if (/^\S/.test(line)) entries.push(line);
    else if (entries.length > 0) entries[entries.length - 1] += ` ${line}`;
  }
  const out: SsSubflow[] = [];
  for (const e of entries) {
    const cols = e.trim().split(/\s+/);
    if (cols[0] !== 'tcp' || cols[1] !== 'ESTAB' || !e.includes('tcp-ulp-mptcp')) continue;
    const remote = cols[5] ?? '';
    if (!remote.endsWith(':5201')) continue;
    out.push({
      local: cols[4] ?? '',
      remote,
      bytesAcked: Number(/ bytes_acked:(\d+)/.exec(e)?.[1] ?? 0),
    });
  }
  return out;
}

const addr = (hostPort: string): string => hostPort.replace(/:\d+$/, '');
const pairs = (subs: SsSubflow[]): string[] =>
  [...new Set(subs.map((s) => `${addr(s.local)} ${addr(s.remote)}`))].sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(labUnavailableReason() !== null)('failover and self-healing (engine as userspace PM)', () => {
  let lab: Lab | null = null;
  let engine: EngineService | null = null;
  afterEach(async () => {
    if (engine) {
      await engine.invoke('mptcp:pm:stop', {});
      await engine.close();
    }
    engine = null;
    await lab?.destroy();
    lab = null;
  });

  /** The lab, the engine as fullmesh client PM, one saturating connection meshed over 2 x 2 pairs. */
  async function start() {
    // Both paths shaped (2 and 8 Mbit/s) and the sender saturating them: every subflow carries
    // data (an app-limited sender leaves the scheduler's second choices idle), most of it on
    // path 1, the one the tests break, at little CPU.
    lab = await Lab.create({ paths: 2, mptcp: 'none', pathOptions: [{ rateMbit: 2 }, { rateMbit: 8 }] });
    const l = lab;
    await ip(['-n', l.server, 'mptcp', 'limits', 'set', 'subflows', '8', 'add_addr_accepted', '8']);
    await ip(['-n', l.server, 'mptcp', 'endpoint', 'add', l.paths[1]!.serverAddress, 'dev', 's1', 'signal']);
    engine = openEngine({ netns: l.client, pollIntervalMs: 250, history: { retentionMs: 600_000 } });
    const e = engine;
    const failovers: FailoverEvent[] = [];
    const actions: PmAction[] = [];
    e.on('mptcp:failover:event', (f) => failovers.push(f));
    e.on('mptcp:pm:action', (a) => actions.push(a));
    const started = await e.invoke('mptcp:pm:start', {
      mode: 'fullmesh',
      role: 'client',
      manager: 'userspace',
    });
    expect(started).toMatchObject({ ok: true, value: { running: true, manager: 'userspace' } });
    await l.startServer(5201);
    await l.openConnections(1, { rateBytesPerSec: -1, abortOnStop: true });
    const [p0, p1] = [l.paths[0]!, l.paths[1]!];
    const mesh = [
      `${p0.clientAddress} ${p0.serverAddress}`,
      `${p0.clientAddress} ${p1.serverAddress}`,
      `${p1.clientAddress} ${p0.serverAddress}`,
      `${p1.clientAddress} ${p1.serverAddress}`,
    ].sort();
    await l.waitFor(
      'the 2 x 2 mesh in ss',
      () => ssSubflows(l.client),
      (s) => pairs(s).length === 4,
      15_000,
    );
    expect(pairs(await ssSubflows(l.client))).toEqual(mesh);
    return { l, e, failovers, actions, p0, p1, mesh };
  }

  it('a link flap: subflows of the downed address close, traffic moves, and they come back at once on link up, carrying data', async () => {
    const { l, e, failovers, actions, p1, mesh } = await start();
    await sleep(2000); // a few polls of traffic: the shares the failover is measured against
    const listed = await e.invoke('mptcp:connections:list', {});
    const tok = listed.ok ? (listed.value as ConnectionsSnapshot).connections[0]?.token : undefined;
    expect(tok).toBeTypeOf('number');

    await ip(['-n', l.client, 'link', 'set', p1.clientIf, 'down']);
    const gone = await l.waitFor(
      `no subflow from ${p1.clientAddress}`,
      () => ssSubflows(l.client),
      (s) => !s.some((x) => addr(x.local) === p1.clientAddress),
      10_000,
    );
    expect(gone.length).toBeGreaterThan(0);
    // The path manager destroyed them itself (their address is no longer usable).
    expect(
      actions.filter(
        (a) => a.action === 'subflow-destroy' && a.result === 'ok' && a.local === p1.clientAddress,
      ),
    ).toHaveLength(2);
    // Where the traffic went: a failover event of this connection, in words: to a subflow that
    // leaves by c0 (path 0), from one that went by c1 and stalled or closed.
    const toPath0 =
      /^traffic moved to subflow 10\.99\.[12]\.1:\d+ → 10\.99\.1\.2:5201 \(c0\) \(\d+% of the traffic\) from subflow 10\.99\.[12]\.1:\d+ → 10\.99\.2\.2:5201( \(c1\))?, (closed|stalled)$/;
    const moved = await l.waitFor(
      'traffic moved to path 0',
      () => failovers.filter((f) => f.token === tok && f.kind === 'traffic-moved').map(describeFailover),
      (w) => w.some((x) => toPath0.test(x)),
      10_000,
    );
    // Every move named is away from a failed subflow (none "back" while the link is down).
    for (const w of moved) expect(w).toMatch(/, (closed|stalled)$/);

    const upAtMs = Date.now();
    await ip(['-n', l.client, 'link', 'set', p1.clientIf, 'up']);
    const back = await l.waitFor(
      'the mesh back in ss',
      () => ssSubflows(l.client),
      (s) => pairs(s).length === 4,
      15_000,
    );
    expect(pairs(back)).toEqual(mesh);
    // Recreated at once (not after a back-off step), each attempt a path-manager action.
    const recreates = actions.filter((a) => a.action === 'subflow-recreate' && a.local === p1.clientAddress);
    expect(recreates.map((a) => a.result)).toEqual(['ok', 'ok']);
    expect(recreates.map((a) => a.remote).sort()).toEqual(
      [l.paths[0]!.serverAddress, p1.serverAddress].sort(),
    );
    for (const a of recreates) {
      expect(a.timestampMs - upAtMs).toBeLessThan(RECREATE_PROMPT_MS);
      expect(a.message).toBe(`${p1.clientAddress} is back`);
    }
    await l.waitFor(
      'both recreated subflows established',
      () => actions.filter((a) => a.action === 'subflow-recreated' && a.local === p1.clientAddress),
      (x) => x.length === 2,
      10_000,
    );
    // They carry data: bytes_acked grows on each (ss -tiM, read twice).
    const first = (await ssSubflows(l.client)).filter((s) => addr(s.local) === p1.clientAddress);
    await l.waitFor(
      'data on the recreated subflows',
      () => ssSubflows(l.client),
      (s) =>
        first.every((f) => {
          const now = s.find((x) => x.local === f.local && x.remote === f.remote);
          return now !== undefined && now.bytesAcked > f.bytesAcked;
        }),
      15_000,
    );
    // The host kept it all in its timeline.
    const h = await e.invoke('mptcp:history:events', {});
    const names = h.ok ? (h.value as { entries: { name: string }[] }).entries.map((x) => x.name) : [];
    expect(names).toContain('mptcp:failover:event');
    expect(names).toContain('mptcp:pm:action');
  }, 90_000);

  it('a subflow reset by the peer closes with ECONNRESET and is recreated after the first back-off step', async () => {
    const { l, actions, p1 } = await start();
    const victim = (await ssSubflows(l.client)).find(
      (s) => addr(s.local) === p1.clientAddress && addr(s.remote) === p1.serverAddress,
    );
    expect(victim).toBeDefined();
    const sport = victim!.local.split(':').pop()!;
    // The server answers this subflow's next segment with a RST (a real firewall rule).
    const rule = [
      '-p',
      'tcp',
      '-s',
      p1.clientAddress,
      '--sport',
      sport,
      '-j',
      'REJECT',
      '--reject-with',
      'tcp-reset',
    ];
    await nsRun(l.server, 'iptables', ['-I', 'INPUT', ...rule]);
    const scheduled = await l.waitFor(
      'a retry scheduled for the reset subflow',
      () => actions.find((a) => a.action === 'retry-scheduled' && a.local === p1.clientAddress),
      (a) => a !== undefined,
      10_000,
    );
    expect(scheduled!.message).toMatch(/^closed with ECONNRESET.*; recreate attempt 1 of 8 in 1\.0 s$/);
    await nsRun(l.server, 'iptables', ['-D', 'INPUT', ...rule]);
    const recreated = await l.waitFor(
      'the recreated subflow',
      () =>
        actions.find(
          (a) =>
            a.action === 'subflow-recreated' && a.local === p1.clientAddress && a.remote === p1.serverAddress,
        ),
      (a) => a !== undefined,
      10_000,
    );
    const attempt = actions.find((a) => a.action === 'subflow-recreate' && a.local === p1.clientAddress);
    expect(attempt).toMatchObject({ result: 'ok', detail: { attempt: '1' } });
    // Not before the back-off step (1 s), not much after.
    expect(attempt!.timestampMs - scheduled!.timestampMs).toBeGreaterThanOrEqual(990);
    expect(attempt!.timestampMs - scheduled!.timestampMs).toBeLessThan(3000);
    expect(recreated!.localPort).not.toBe(Number(sport));
    await l.waitFor(
      'the pair in ss again',
      () => ssSubflows(l.client),
      (s) => s.some((x) => addr(x.local) === p1.clientAddress && addr(x.remote) === p1.serverAddress),
      5000,
    );
  }, 90_000);
});

/** "At once" on link up: the address refresh is debounced by 50 ms; the rest is the agent's round trip. */
const RECREATE_PROMPT_MS = 3000;
