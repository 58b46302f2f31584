/**
 * Crash recovery of source-routing steps (recovery.ts): whatever part of a plan ran, the undo
 * deletes the rule before its routes, puts back what a plan deleted, and never names a rule or
 * route MPTCP Studio did not create. Against the in-memory kernel (testing/fake-kernel.ts).
 */
import { describe, expect, it } from 'vitest';
import { planConfig, shellForStep, type Step } from '../../../shared/plan';
import type { MptcpConfig } from '../../../shared/config';
import type { Overview } from '../../../shared/types';
import { kernelStatus } from '../../../shared/testing/status-fixtures';
import { FakeKernel } from '../../testing/fake-kernel';
import { applySteps } from './apply';
import { recoveryPlan } from './recovery';
import { stateFingerprint } from './config-manager';

function kernel(): FakeKernel {
  return new FakeKernel({
    interfaces: [
      {
        index: 3,
        name: 'c2',
        operState: 'up',
        operStateRaw: 6,
        adminUp: true,
        running: true,
        usable: true,
        loopback: false,
        mtuBytes: 1500,
        minMtuBytes: 68,
        maxMtuBytes: 9000,
        addresses: [{ family: 'inet', address: '10.1.2.2', prefixLen: 24, scope: 0 }],
      },
    ],
    routing: {
      rules: [
        // Someone else's, inside MPTCP Studio's range: never touched.
        {
          family: 'inet',
          priority: 10500,
          src: '10.1.2.2',
          srcLen: 32,
          dst: null,
          dstLen: 0,
          table: 10500,
          action: 1,
          protocol: 0,
          iifname: null,
          oifname: null,
          fwmark: null,
        },
      ],
      routes: [],
      rpFilter: { all: 0, byIfname: { c2: 1 }, writable: true },
    },
  });
}

async function overviewOf(k: FakeKernel): Promise<Overview> {
  return {
    status: kernelStatus(),
    limits: await k.reads.limits(),
    endpoints: [],
    interfaces: await k.reads.interfaces(),
    routing: await k.reads.routing(),
    errors: [],
  };
}

const config: MptcpConfig = {
  routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'c2', gateway: '10.1.2.1' }], rpFilter: { c2: 2 } },
};

describe('recovery of routing steps', () => {
  it('after a kill at any step, the undo puts back exactly the state before', async () => {
    const k0 = kernel();
    const steps = planConfig(await overviewOf(k0), config).steps;
    expect(steps.map((s) => s.kind)).toEqual(['route-add', 'route-add', 'rule-add', 'sysctl']);
    for (let ran = 0; ran <= steps.length; ran++) {
      const k = kernel();
      const before = stateFingerprint(await overviewOf(k));
      const done = await applySteps(k.writer, steps.slice(0, ran), () => Promise.resolve(''));
      expect(done.ok).toBe(true);
      const undo = recoveryPlan(await overviewOf(k), steps);
      // Rule first, then the routes: a rule never points at a table without its routes.
      const kinds = undo.map((s) => s.kind).join(' ');
      expect(kinds).toBe(
        ['sysctl', 'rule-del', 'route-del', 'route-del'].slice(steps.length - ran).join(' '),
      );
      expect(undo.every((s: Step) => !shellForStep(s).includes('10500'))).toBe(true);
      const r = await applySteps(k.writer, undo, () => Promise.resolve(''));
      expect(r.ok).toBe(true);
      expect(stateFingerprint(await overviewOf(k))).toBe(before);
    }
  });

  it('a removal that was interrupted is undone by adding back what it deleted', async () => {
    const k = kernel();
    const add = planConfig(await overviewOf(k), config).steps;
    await applySteps(k.writer, add, () => Promise.resolve(''));
    const applied = stateFingerprint(await overviewOf(k));
    const removal = planConfig(await overviewOf(k), { routing: { sourceRules: [] } }).steps;
    expect(removal.map((s) => s.kind)).toEqual(['rule-del', 'route-del', 'route-del']);
    await applySteps(k.writer, removal.slice(0, 2), () => Promise.resolve(''));
    const undo = recoveryPlan(await overviewOf(k), removal);
    expect(undo.map((s) => s.kind)).toEqual(['route-add', 'rule-add']);
    await applySteps(k.writer, undo, () => Promise.resolve(''));
    expect(stateFingerprint(await overviewOf(k))).toBe(applied);
  });
});
