import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection, ConnectionsSnapshot } from '../../../shared/types';
import { ConnectionsSnapshotSchema } from '../../../shared/types';
import { bundleProbe, Lab, labUnavailableReason, nsRun } from '../../lab/lab';
import { subflowFlagLetters } from './decode';
import { AGE_TOLERANCE_MS } from './poll-memory';

const AGE_KEYS = ['lastDataSentAtMs', 'lastDataRecvAtMs', 'lastAckRecvAtMs'] as const;
/**
 * `reused` equals `fresh` but for the subflows' tcp_info times, which a reused object keeps from
 * the poll that built it: within AGE_TOLERANCE_MS of the fresh poll's (poll-memory.ts TCP_INFO_AGES).
 */
function expectSameButTimes(reused: Connection, fresh: Connection | undefined, what: string): void {
  const strip = (c: Connection | undefined) =>
    c && {
      ...c,
      subflows: c.subflows.map((sf) => ({
        ...sf,
        lastDataSentAtMs: 0,
        lastDataRecvAtMs: 0,
        lastAckRecvAtMs: 0,
      })),
    };
  expect(strip(reused), what).toEqual(strip(fresh));
  reused.subflows.forEach((sf, i) => {
    for (const k of AGE_KEYS) {
      const a = sf[k];
      const b = fresh!.subflows[i]![k];
      expect(a === null || b === null ? a === b : Math.abs(a - b) <= AGE_TOLERANCE_MS, `${what} ${k}`).toBe(
        true,
      );
    }
  });
}

/**
 * The engine, run inside a lab namespace, against `ss -tinM` run in the same namespace. A netlink
 * socket sees its process's netns, so the engine runs as a bundled child under ip netns exec (its
 * dump workers run out/node/dump-worker.mjs, which the integration setup builds).
 */
const root = join(import.meta.dirname, '..', '..', '..');
const probe = join(root, '.cache', 'diag-probe.mjs');

interface SsSubflow {
  local: string;
  peer: string;
  flags: string;
  tokenRem: number;
  tokenLoc: number;
  rttMs: number;
  cwnd: number;
}

/** Entries of `ss -tinM`: a header line, then tab-indented detail lines. */
function parseSs(text: string): { tokens: number[]; subflows: SsSubflow[] } {
  const entries: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    if (/^\S/.test(line)) entries.push(line);
    else if (entries.length > 0) entries[entries.length - 1] += ` ${line}`;
  }
  const tokens: number[] = [];
  const subflows: SsSubflow[] = [];
  for (const e of entries) {
    const cols = e.trim().split(/\s+/);
    if (cols[0] === 'mptcp') {
      const t = / token:([0-9a-f]+)/.exec(e);
      if (t) tokens.push(parseInt(t[1]!, 16));
    } else if (cols[0] === 'tcp' && e.includes('tcp-ulp-mptcp')) {
      const m = /tcp-ulp-mptcp flags:(\S*) token:([0-9a-f]+)\(id:\d+\)\/([0-9a-f]+)\(id:\d+\)/.exec(e);
      const rtt = / rtt:([\d.]+)\//.exec(e);
      const cwnd = / cwnd:(\d+)/.exec(e);
      if (!m) throw new Error(`unparsed subflow: ${e}`);
      subflows.push({
        local: cols[4]!,
        peer: cols[5]!,
        flags: m[1]!,
        tokenRem: parseInt(m[2]!, 16),
        tokenLoc: parseInt(m[3]!, 16),
        rttMs: rtt ? Number(rtt[1]) : 0,
        cwnd: cwnd ? Number(cwnd[1]) : 0,
      });
    }
  }
  return { tokens, subflows };
}

const hostPort = (addr: string, port: number): string =>
  addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;

async function engineSnapshot(ns: string): Promise<ConnectionsSnapshot> {
  const { stdout } = await nsRun(ns, 'node', [probe, 'snapshot']);
  return ConnectionsSnapshotSchema.parse(JSON.parse(stdout));
}

/** Compares engine and ss in one namespace; the test fails on a dropped or misattached subflow. */
async function compareWithSs(
  ns: string,
  expectedConnections: number,
  snapshot?: ConnectionsSnapshot,
): Promise<void> {
  const snap = snapshot ?? (await engineSnapshot(ns));
  const ss = parseSs((await nsRun(ns, 'ss', ['-tinM'])).stdout);
  expect(snap.orphanSubflows).toBe(0);
  const engineTokens = snap.connections.map((c) => c.token).sort();
  expect(engineTokens).toHaveLength(expectedConnections);
  expect(engineTokens).toEqual([...ss.tokens].sort());

  const owner = new Map<string, Connection>();
  for (const c of snap.connections) {
    expect(c.subflows.length).toBe(c.subflowsTotal);
    expect(c.subflows.length).toBe(ss.subflows.filter((s) => s.tokenLoc === c.token).length);
    for (const s of c.subflows)
      owner.set(`${hostPort(s.localAddress, s.localPort)} ${hostPort(s.remoteAddress, s.remotePort)}`, c);
  }
  expect(owner.size).toBe(ss.subflows.length);
  for (const s of ss.subflows) {
    const c = owner.get(`${s.local} ${s.peer}`);
    expect(c, `subflow ${s.local} ${s.peer} missing`).toBeDefined();
    expect(c!.token, `subflow ${s.local} attached to the wrong connection`).toBe(s.tokenLoc);
    const e = c!.subflows.find(
      (x) =>
        hostPort(x.localAddress, x.localPort) === s.local &&
        hostPort(x.remoteAddress, x.remotePort) === s.peer,
    )!;
    expect(e.tokenRemote).toBe(s.tokenRem);
    expect(subflowFlagLetters(e.rawFlags)).toBe(s.flags);
    // Live values move between the two reads.
    const rttUs = s.rttMs * 1000;
    expect(Math.abs(e.rttUs - rttUs)).toBeLessThanOrEqual(Math.max(2000, 0.5 * rttUs));
    expect(Math.abs(e.cwndPkts - s.cwnd)).toBeLessThanOrEqual(Math.max(10, 0.5 * s.cwnd));
  }
}

/** Waits until `ss` in `ns` lists `n` established MPTCP subflows with port 5201 on the given side. */
function waitForSubflows(
  lab: Lab,
  ns: string,
  filter: 'dport' | 'sport',
  n: number,
  timeoutMs?: number,
): Promise<unknown> {
  return lab.waitFor(
    `${n} subflows in ${ns}`,
    async () => (await nsRun(ns, 'ss', ['-tniH', 'state', 'established', filter, '5201'])).stdout,
    (s) => (s.match(/tcp-ulp-mptcp/g) ?? []).length === n,
    timeoutMs,
  );
}

function bundleDiagProbe(): Promise<unknown> {
  return bundleProbe('src-main/lab/probes/diag-probe.ts', 'diag-probe.mjs');
}

describe.skipIf(labUnavailableReason() !== null)('sock_diag connection reader in a lab', () => {
  let lab: Lab;
  beforeAll(async () => {
    await bundleDiagProbe();
    lab = await Lab.create({ paths: 2 });
    await lab.startServer(5201);
    await lab.openConnections(3, { rateBytesPerSec: 200_000 });
    await waitForSubflows(lab, lab.client, 'dport', 6);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('matches ss -tinM in the client namespace, subflow by subflow', async () => {
    await compareWithSs(lab.client, 3);
  });

  it('matches ss -tinM in the server namespace (listener excluded)', async () => {
    await waitForSubflows(lab, lab.server, 'sport', 6);
    await compareWithSs(lab.server, 3);
  });

  it('gives overlapping reads each the whole, same snapshot (batches are not recycled under a poll)', async () => {
    for (const ns of [lab.client, lab.server]) {
      const ss = parseSs((await nsRun(ns, 'ss', ['-tinM'])).stdout);
      const tokens = [...ss.tokens].sort((a, b) => a - b);
      const { stdout } = await nsRun(ns, 'node', [probe, 'overlap', '40', '3']);
      const rounds = JSON.parse(stdout) as (
        { tokens: number[]; subflows: number; orphanSubflows: number } | { error: string }
      )[][];
      expect(rounds).toHaveLength(40);
      for (const round of rounds) {
        expect(round).toHaveLength(3);
        for (const r of round) {
          expect(r).not.toHaveProperty('error');
          // The lab's connections are steady: every call sees what ss sees.
          expect(r).toEqual({ tokens, subflows: ss.subflows.length, orphanSubflows: 0 });
        }
      }
    }
  });

  it('reads one connection by token, with its subflows, on both sides', async () => {
    for (const ns of [lab.client, lab.server]) {
      const snap = await engineSnapshot(ns);
      for (const c of snap.connections) {
        const { stdout } = await nsRun(ns, 'node', [probe, 'connection', String(c.token)]);
        const { connection: one, fullDumps } = JSON.parse(stdout) as {
          connection: Connection;
          fullDumps: number;
        };
        expect(fullDumps).toBe(0); // the port-filtered dump found every subflow
        expect(one.token).toBe(c.token);
        expect(one.localPort).toBe(c.localPort);
        const key = (s: Connection['subflows'][number]): string =>
          `${s.localAddress}:${s.localPort}>${s.remoteAddress}:${s.remotePort}`;
        expect(one.subflows.map(key).sort()).toEqual(c.subflows.map(key).sort());
        for (const s of one.subflows) expect(s.tokenLocal).toBe(c.token);
      }
    }
  });

  it('answers null for a token that does not exist', async () => {
    const snap = await engineSnapshot(lab.client);
    let token = 0x12345678;
    while (snap.connections.some((c) => c.token === token)) token++;
    const { stdout } = await nsRun(lab.client, 'node', [probe, 'connection', String(token)]);
    expect((JSON.parse(stdout) as { connection: unknown }).connection).toBeNull();
  });

  it('leaves out the AF_INET6 TCP dump when no AF_INET6 MPTCP socket exists', async () => {
    const { stdout } = await nsRun(lab.client, 'node', [probe, 'skipped']);
    const polls = JSON.parse(stdout) as {
      inThread: boolean;
      connections: number;
      skippedDumps: number;
      receivePaths: string[] | null;
    }[];
    expect(polls.map((p) => p.skippedDumps)).toEqual([1, 1]);
    expect(polls.map((p) => p.receivePaths)).toEqual([['direct', 'direct'], null]);
    expect(polls.every((p) => p.connections > 0)).toBe(true);
  });

  it('reports traffic counters that grow', async () => {
    const a = await engineSnapshot(lab.client);
    const sentBefore = (c: Connection): number =>
      a.connections.find((x) => x.token === c.token)?.bytesSent ?? Number.POSITIVE_INFINITY;
    // Poll until every connection has sent more (it sends 200 kB/s), not for a fixed while.
    const b = await lab
      .waitFor(
        'the counters of every connection to grow',
        () => engineSnapshot(lab.client),
        (s) => s.connections.length > 0 && s.connections.every((c) => c.bytesSent > sentBefore(c)),
      )
      .catch(() => engineSnapshot(lab.client));
    expect(b.connections.map((c) => c.token).sort()).toEqual(a.connections.map((c) => c.token).sort());
    for (const c of b.connections) {
      const before = a.connections.find((x) => x.token === c.token)!;
      expect(c.bytesSent).toBeGreaterThan(before.bytesSent);
      expect(c.subflows.every((s) => s.mssBytes > 0 && s.congestionControl !== null)).toBe(true);
    }
  });
});

describe.skipIf(labUnavailableReason() !== null)('sock_diag poll: the AF_INET6 TCP dump', () => {
  // The poll leaves out the AF_INET6 TCP dump when the AF_INET6 MPTCP dump found nothing
  // (PollPlan.skipWhenEmpty): with AF_INET6 connections it must still run and find their subflows.
  let lab: Lab;
  beforeAll(async () => {
    await bundleDiagProbe();
    lab = await Lab.create({ paths: 2, ipv6: true });
    await lab.startServer(5201);
    await lab.startServer(5202, { ipv6: true });
    await lab.openConnections(3, { rateBytesPerSec: 0 });
    await lab.openConnections(3, { rateBytesPerSec: 0, ipv6: true, port: 5202 });
    await lab.waitFor(
      'six MPTCP connections on the client',
      async () => (await nsRun(lab.client, 'ss', ['-MnH', 'state', 'established'])).stdout,
      (s) => s.trim().split('\n').filter(Boolean).length === 6,
    );
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('sends the AF_INET6 TCP dump when an AF_INET6 MPTCP socket exists', async () => {
    const { stdout } = await nsRun(lab.client, 'node', [probe, 'skipped']);
    expect(JSON.parse(stdout)).toEqual([
      { inThread: false, connections: 6, skippedDumps: 0, receivePaths: ['direct', 'direct'] },
      { inThread: true, connections: 6, skippedDumps: 0, receivePaths: null },
    ]);
  });

  it("reads every dump the same on the direct path, the binding's and the direct path's fallback", async () => {
    type Run = { path: string; refusedErrno: number; dumps: { sockets: string[]; errno: number }[] };
    const { stdout } = await nsRun(lab.client, 'node', [probe, 'receive-paths']);
    const runs = JSON.parse(stdout) as Record<'direct' | 'binding' | 'fallback', Run>;
    expect(runs.direct.path).toBe('direct');
    expect(runs.binding.path).toBe('binding');
    // A direct worker that cannot find its fd reads on the binding's path.
    expect(runs.fallback.path).toBe('binding');
    for (const r of Object.values(runs)) {
      // sdiag_family 255: sock_diag_rcv_msg answers EINVAL, and the same socket dumps on.
      expect(r.refusedErrno).toBe(22);
      expect(r.dumps.map((d) => d.errno)).toEqual([0, 0, 0, 0]);
    }
    // Idle connections: the same sockets (family, ports, idiag_cookie) on every path.
    expect(runs.binding.dumps).toEqual(runs.direct.dumps);
    expect(runs.fallback.dumps).toEqual(runs.direct.dumps);
    // And what ss sees: MPTCP AF_INET, AF_INET6, then the TCP subflows of each family.
    const ss = parseSs((await nsRun(lab.client, 'ss', ['-tinM'])).stdout);
    const [m4, m6, t4, t6] = runs.direct.dumps.map((d) => d.sockets);
    expect([m4!.length, m6!.length]).toEqual([3, 3]);
    const ports = (hp: string): string => hp.slice(hp.lastIndexOf(':') + 1);
    const ssSubflows = ss.subflows.map(
      (s) => `${s.local.startsWith('[') ? 10 : 2} ${ports(s.local)} ${ports(s.peer)}`,
    );
    const dumped = [...t4!, ...t6!].map((k) => k.split(' ').slice(0, 3).join(' '));
    expect(dumped.sort()).toEqual(ssSubflows.sort());
  });

  it('finds the AF_INET6 subflows (client and server) as ss -tinM does', async () => {
    for (const ns of [lab.client, lab.server]) {
      const snap = await engineSnapshot(ns);
      const v6 = snap.connections.filter((c) => c.family === 'inet6');
      expect(v6).toHaveLength(3);
      for (const c of v6) expect(c.subflows.some((s) => s.family === 'inet6')).toBe(true);
      await compareWithSs(ns, 6, snap);
    }
  });
});

interface ReuseRound {
  reused: ConnectionsSnapshot;
  fresh: ConnectionsSnapshot;
  sharedTokens: number[];
  sharedSubflows: number;
}

describe.skipIf(labUnavailableReason() !== null)('a poll reuses the last poll’s unchanged objects', () => {
  const IDLE = 3;
  const SENDING = 2;
  let lab: Lab;
  beforeAll(async () => {
    await bundleDiagProbe();
    lab = await Lab.create({ paths: 2 });
    await lab.startServer(5201);
    await lab.openConnections(IDLE, { rateBytesPerSec: 0 });
    await lab.openConnections(SENDING, { rateBytesPerSec: 50_000 });
    await waitForSubflows(lab, lab.client, 'dport', 2 * (IDLE + SENDING), 30_000);
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('idle connections stay the same objects and equal a fresh poll; sending ones are new and grow', async () => {
    const { stdout } = await nsRun(lab.client, 'node', [probe, 'reuse', '5', '400']);
    const rounds = JSON.parse(stdout) as ReuseRound[];
    expect(rounds).toHaveLength(5);
    for (const r of rounds) {
      ConnectionsSnapshotSchema.parse(r.reused);
      expect(r.reused.orphanSubflows).toBe(0);
      expect(r.reused.connections.map((c) => c.token).sort()).toEqual(
        r.fresh.connections.map((c) => c.token).sort(),
      );
    }
    // Sending: bytes_sent grew over the rounds (read by polls that build everything anew).
    const first = new Map(rounds[0]!.fresh.connections.map((c) => [c.token, c]));
    const sending = rounds[4]!.fresh.connections
      .filter((c) => c.bytesSent > first.get(c.token)!.bytesSent)
      .map((c) => c.token)
      .sort();
    expect(sending).toHaveLength(SENDING);
    const idle = rounds[0]!.fresh.connections
      .map((c) => c.token)
      .filter((t) => !sending.includes(t))
      .sort();
    expect(idle).toHaveLength(IDLE);
    for (let i = 1; i < rounds.length; i++) {
      const r = rounds[i]!;
      // The idle connections (and their subflows) are last round's objects, the sending ones not.
      expect([...r.sharedTokens].sort(), `round ${i}`).toEqual(idle);
      expect(r.sharedSubflows).toBeGreaterThanOrEqual(2 * IDLE);
      const fresh = new Map(r.fresh.connections.map((c) => [c.token, c]));
      const prev = new Map(rounds[i - 1]!.reused.connections.map((c) => [c.token, c]));
      for (const c of r.reused.connections) {
        // A reused object is what a poll building everything anew says, a moment later.
        if (idle.includes(c.token)) expectSameButTimes(c, fresh.get(c.token), `idle ${c.token}`);
        else expect(c.bytesSent, `sending ${c.token}`).toBeGreaterThan(prev.get(c.token)!.bytesSent);
      }
    }
  });
});
