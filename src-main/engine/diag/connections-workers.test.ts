import { describe, expect, it, vi } from 'vitest';
import type { NlSocket } from '../netlink/core';

/**
 * getDumpWorkers when the second dump worker cannot start (e.g. thread resource limits): the first
 * must be terminated, not left running for good, and the poll falls back to this thread.
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
    const { readConnections } = await import('./connections');
    const dumps: number[] = [];
    const diag = {
      dump: (type: number) => {
        dumps.push(type);
        return Promise.resolve();
      },
    } as unknown as NlSocket;
    const snap = await readConnections(diag);
    expect(made.count).toBe(2);
    expect(made.terminated).toBe(1);
    // The dumps ran on `diag`: both MPTCP dumps and the AF_INET TCP dump; no AF_INET6 MPTCP socket,
    // so no AF_INET6 TCP dump.
    expect(dumps).toHaveLength(3);
    expect(snap.connections).toEqual([]);
  });
});
