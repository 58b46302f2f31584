import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counterText } from '../../../shared/mptcp-counters';
import type { Connection, ConnectionsSnapshot, MptcpCounters } from '../../../shared/types';
import { Lab, labUnavailableReason, nsRun } from '../../lab/lab';
import { openEngine, type EngineService } from '../index';

describe.skipIf(labUnavailableReason() !== null)('engine reads through the namespace agent', () => {
  let lab: Lab;
  let engine: EngineService;
  beforeAll(async () => {
    lab = await Lab.create({ paths: 2 });
    await lab.startServer(5201);
    await lab.openConnections(3);
    engine = openEngine({ netns: lab.client });
  });
  afterAll(async () => {
    await engine?.close();
    await lab?.destroy();
  });

  it('match nstat in the same namespace, counter by counter', async () => {
    // Idle connections: the handshake counters no longer move between the two reads.
    await lab.waitFor(
      'the joins',
      async () => (await nsRun(lab.client, 'nstat', ['-asz', 'MPTcpExtMPJoinSynAckRx'])).stdout,
      (s) => /MPTcpExtMPJoinSynAckRx\s+3\b/.test(s),
    );
    const r = await engine.invoke('mptcp:counters:get', {});
    if (!r.ok) throw new Error(r.error.message);
    const ours = (r.value as MptcpCounters).counters;
    const nstat = (await nsRun(lab.client, 'nstat', ['-asz'])).stdout;
    const theirs = new Map<string, number>();
    for (const line of nstat.split('\n')) {
      const m = /^MPTcpExt(\w+)\s+(\d+)/.exec(line);
      if (m?.[1] && m[2]) theirs.set(m[1], Number(m[2]));
    }
    expect(theirs.size).toBeGreaterThan(20);
    expect(Object.keys(ours).sort()).toEqual([...theirs.keys()].sort());
    for (const name of [
      'MPCapableSYNTX',
      'MPCapableSYNACKRX',
      'MPJoinSynTx',
      'MPJoinSynAckRx',
      'AddAddr',
      'MPJoinRejected',
    ]) {
      expect(ours[name], name).toBe(theirs.get(name));
    }
    expect(ours.MPCapableSYNTX).toBe(3);
    // Every counter this kernel has is explained on the Overview, in the CLI and in the docs.
    expect([...theirs.keys()].filter((name) => counterText(name) === null)).toEqual([]);
  });

  it('fetches one connection by token, as the full dump shows it, and null once unknown', async () => {
    const all = await engine.invoke('mptcp:connections:list', {});
    if (!all.ok) throw new Error(all.error.message);
    const first = (all.value as ConnectionsSnapshot).connections[0];
    if (!first) throw new Error('no connection');
    const one = await engine.invoke('mptcp:connection:get', { token: first.token });
    if (!one.ok) throw new Error(one.error.message);
    const c = one.value as Connection;
    expect(c.token).toBe(first.token);
    expect(c.subflows.map((s) => `${s.localAddress}:${s.localPort}`).sort()).toEqual(
      first.subflows.map((s) => `${s.localAddress}:${s.localPort}`).sort(),
    );
    const none = await engine.invoke('mptcp:connection:get', { token: (first.token ^ 0x5a5a5a5a) >>> 0 });
    expect(none).toEqual({ ok: true, value: null });
  });
});
