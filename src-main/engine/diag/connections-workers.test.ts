import { describe, expect, it, vi } from 'vitest';
import type { NlSocket } from '../netlink/core';

/**
 * ConnectionPoller's dump workers when the second one cannot start (e.g. thread resource limits):
 * the first must be terminated, not left running for good, and the poll falls back to this thread.
 */
const made = vi.hoisted(() => ({ count: 0, terminated: 0 }));
vi.mock('./dump-worker', () => ({
  DiagDumpWorker: class {
    readonly failed = false;
    constructor() {
      if (++made.count === 2) throw new Error('cannot start a thread');
    }
    terminate(): Promise<number> {
      made.terminated++;
      return Promise.resolve(0);
    }
  },
}));

describe('dump workers that fail to start', () => {
  it('terminates the worker already started and polls on this thread', async () => {
    const { ConnectionPoller } = await import('./connections');
    const dumps: number[] = [];
    const diag = {
      dump: (type: number) => {
        dumps.push(type);
        return Promise.resolve();
      },
    } as unknown as NlSocket;
    const poller = new ConnectionPoller();
    const snap = await poller.read(diag);
    expect(made.count).toBe(2);
    expect(made.terminated).toBe(1);
    // The dumps ran on `diag`: both MPTCP dumps and the AF_INET TCP dump; no AF_INET6 MPTCP socket,
    // so no AF_INET6 TCP dump.
    expect(dumps).toHaveLength(3);
    expect(snap.connections).toEqual([]);
    // They are not retried at the next poll.
    await poller.read(diag);
    expect(made.count).toBe(2);
  });
});
