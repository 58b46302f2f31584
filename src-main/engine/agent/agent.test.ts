import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { describe, expect, it, vi } from 'vitest';
import { checkNetnsName, LineBackend, serveAgent } from '.';
import { fakeBackend, sampleStatus } from '../../testing/fake-backend';
import { prng, steadyTick, syntheticSnapshot } from '../../../shared/testing/synthetic';
import type { ConnectionsSnapshot } from '../../../shared/types';
import type { EngineBackend } from '../service';

/**
 * A LineBackend talking to serveAgent(agentBackend) over in-memory streams, counting the bytes of
 * every result line (what the pipe carries). `rewrite` edits each line on its way to the agent.
 * Each channel the host opens is a new agent (a new process, as after a restart); `restart()`
 * ends the current one the way a dying process does.
 */
function pair(
  agentBackend: EngineBackend,
  rewrite: (line: string) => string = (l) => l,
): { host: LineBackend; resultBytes: number[]; stop: () => void; restart: () => void } {
  const resultBytes: number[] = [];
  let current: { toAgent: PassThrough; close: () => void } | null = null;
  const host = new LineBackend((h) => {
    const toAgent = new PassThrough();
    const fromAgent = new PassThrough();
    void serveAgent(agentBackend, toAgent, fromAgent, { closeBackend: false });
    createInterface({ input: fromAgent }).on('line', (l) => {
      if (l.startsWith('{"t":"result"')) resultBytes.push(l.length);
      h.onLine(l);
    });
    current = { toAgent, close: () => h.onClose('agent exited') };
    return {
      write: (line, done) => {
        toAgent.write(rewrite(line));
        done(null);
      },
      close: () => Promise.resolve(),
    };
  });
  return {
    host,
    resultBytes,
    stop: () => current?.toAgent.end(),
    restart: () => {
      current?.toAgent.end();
      current?.close();
    },
  };
}

describe('agent stdio protocol', () => {
  it('answers calls line by line and closes the backend when stdin ends', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const backend = fakeBackend();
    const done = serveAgent(backend, input, output);
    const lines: unknown[] = [];
    createInterface({ input: output }).on('line', (l) => lines.push(JSON.parse(l) as unknown));
    input.write('not json\n');
    input.write(`${JSON.stringify({ t: 'call', id: 7, method: 'mptcp:status:get', args: {} })}\n`);
    input.write(`${JSON.stringify({ t: 'call', id: 8, method: 'mptcp:bogus', args: {} })}\n`);
    input.end();
    await done;
    expect(lines).toContainEqual({ t: 'result', id: 7, result: { ok: true, value: sampleStatus } });
    expect(lines).toContainEqual(
      expect.objectContaining({ id: 8, result: expect.objectContaining({ ok: false }) }),
    );
    expect(backend.closed).toBe(true);
  });

  it('refuses namespace names that could be paths or options', () => {
    for (const bad of ['../x', '-n', 'a/b', '', 'x'.repeat(80)]) {
      expect(() => checkNetnsName(bad)).toThrow(/not a valid network namespace name/);
    }
    expect(() => checkNetnsName('mpst-does-not-exist-xyz')).toThrow(/does not exist/);
  });

  describe('connections feed over the pipe', () => {
    function scripted(snaps: ConnectionsSnapshot[]): EngineBackend {
      let i = 0;
      return fakeBackend({
        'mptcp:connections:list': () => Promise.resolve(snaps[Math.min(i++, snaps.length - 1)]!),
      });
    }

    it('sends one full snapshot, then deltas that rebuild exactly what the agent polled', async () => {
      const r = prng(7);
      const snaps = [syntheticSnapshot(r, 300, 1_700_000_000_000, 2)];
      for (let k = 1; k < 6; k++) snaps.push(steadyTick(r, snaps[k - 1]!, 1000));
      const { host, resultBytes, stop } = pair(scripted(snaps));
      const got: ConnectionsSnapshot[] = [];
      for (let k = 0; k < snaps.length; k++) got.push(await host.handlers['mptcp:connections:list']({}));
      stop();
      for (let k = 0; k < snaps.length; k++) expect(got[k]).toEqual(snaps[k]);
      expect(host.feedStats).toEqual({ full: 1, deltas: 5, resyncs: 0, plain: 0 });
      // Steady traffic changes counters on every connection: still far less than whole snapshots.
      const full = resultBytes[0]!;
      for (const b of resultBytes.slice(1)) expect(b).toBeLessThan(full * 0.7);
    });

    it('an unchanged poll is a few hundred bytes and keeps every connection object', async () => {
      const snap = syntheticSnapshot(prng(3), 500, 1_700_000_000_000, 2);
      const same = { ...snap, takenAtMs: snap.takenAtMs + 1000 };
      const { host, resultBytes, stop } = pair(scripted([snap, same]));
      const a = await host.handlers['mptcp:connections:list']({});
      const b = await host.handlers['mptcp:connections:list']({});
      stop();
      expect(b).toEqual(same);
      expect(b.connections[0]).toBe(a.connections[0]);
      expect(resultBytes[1]).toBeLessThan(300);
    });

    it('concurrent list calls still apply each delta to its own base', async () => {
      const r = prng(11);
      const snaps = [syntheticSnapshot(r, 50)];
      for (let k = 1; k < 8; k++) snaps.push(steadyTick(r, snaps[k - 1]!, 500, 0.1));
      const { host, stop } = pair(scripted(snaps));
      const got = await Promise.all(snaps.map(() => host.handlers['mptcp:connections:list']({})));
      stop();
      expect(got).toEqual(snaps);
      // Polls in order: one full snapshot, then a delta on each previous answer.
      expect(host.feedStats).toEqual({ full: 1, deltas: 7, resyncs: 0, plain: 0 });
    });

    it('starts over with a full snapshot from a restarted agent', async () => {
      const r = prng(13);
      const snaps = [syntheticSnapshot(r, 40, 1_700_000_000_000, 2)];
      for (let k = 1; k < 5; k++) snaps.push(steadyTick(r, snaps[k - 1]!, 1000, 0.1));
      const { host, stop, restart } = pair(scripted(snaps));
      const got: ConnectionsSnapshot[] = [];
      got.push(await host.handlers['mptcp:connections:list']({}));
      got.push(await host.handlers['mptcp:connections:list']({}));
      restart();
      got.push(await host.handlers['mptcp:connections:list']({}));
      got.push(await host.handlers['mptcp:connections:list']({}));
      stop();
      expect(got).toEqual(snaps.slice(0, 4));
      expect(host.feedStats).toEqual({ full: 2, deltas: 2, resyncs: 0, plain: 0 });
    });

    it("drops a silent client's snapshot after a minute: its next poll is a full one", async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        const r = prng(19);
        const snaps = [syntheticSnapshot(r, 30, 1_700_000_000_000, 2)];
        for (let k = 1; k < 4; k++) snaps.push(steadyTick(r, snaps[k - 1]!, 1000));
        const { host, stop } = pair(scripted(snaps));
        const got: ConnectionsSnapshot[] = [];
        got.push(await host.handlers['mptcp:connections:list']({}));
        got.push(await host.handlers['mptcp:connections:list']({}));
        vi.advanceTimersByTime(61_000);
        got.push(await host.handlers['mptcp:connections:list']({}));
        got.push(await host.handlers['mptcp:connections:list']({}));
        stop();
        expect(got).toEqual(snaps);
        expect(host.feedStats).toEqual({ full: 2, deltas: 2, resyncs: 0, plain: 0 });
      } finally {
        vi.useRealTimers();
      }
    });

    it('falls back to whole snapshots when the agent packs other fields (another build)', async () => {
      const snap = syntheticSnapshot(prng(17), 20);
      const { host, stop } = pair(scripted([snap]), (l) =>
        l.replace(/"fields":"[^"]*"/, '"fields":"rttUs,cwndPkts|x"'),
      );
      expect(await host.handlers['mptcp:connections:list']({})).toEqual(snap);
      expect(await host.handlers['mptcp:connections:list']({})).toEqual(snap);
      stop();
      expect(host.feedStats).toEqual({ full: 0, deltas: 0, resyncs: 0, plain: 2 });
    });

    it('falls back to whole snapshots with an agent that refuses the feed arguments', async () => {
      const snap = syntheticSnapshot(prng(5), 20);
      // An older agent's strict NoArgs refuses any arguments; make this one see arguments that
      // are not feed arguments either, so it answers BAD_REQUEST the same way.
      const { host: old, stop } = pair(scripted([snap]), (l) => l.replace(/"feed":\{[^}]*\}/, '"feed":1'));
      expect(await old.handlers['mptcp:connections:list']({})).toEqual(snap);
      expect(await old.handlers['mptcp:connections:list']({})).toEqual(snap);
      stop();
      expect(old.feedStats).toEqual({ full: 0, deltas: 0, resyncs: 0, plain: 2 });
    });
  });
});

describe('a call to an agent that is gone', () => {
  it('goes to a new agent when the dead one never took it (the write failed), and fails when it was written', async () => {
    let opened = 0;
    const agents: { fail: boolean; close: () => void }[] = [];
    const backend = fakeBackend();
    const host = new LineBackend((h) => {
      opened++;
      const toAgent = new PassThrough();
      const fromAgent = new PassThrough();
      void serveAgent(backend, toAgent, fromAgent, { closeBackend: false });
      createInterface({ input: fromAgent }).on('line', h.onLine);
      const agent = { fail: false, close: () => h.onClose('agent exited (SIGKILL)') };
      agents.push(agent);
      return {
        // A dead agent's pipe: the write fails (EPIPE), asynchronously, as Node reports it.
        write: (line, done) => {
          if (agent.fail) setImmediate(() => done(new Error('write EPIPE')));
          else {
            toAgent.write(line);
            done(null);
          }
        },
        close: () => Promise.resolve(),
      };
    });
    expect(await host.handlers['mptcp:status:get']({})).toEqual(sampleStatus);
    // The agent dies; a call is made before its end is seen, then the end arrives.
    agents[0]!.fail = true;
    const call = host.handlers['mptcp:limits:get']({});
    agents[0]!.close();
    expect(await call).toEqual({ subflows: 2, addAddrAccepted: 0 });
    expect(opened).toBe(2);
  });
});
