/**
 * The policy table: which policy a mode and role get, and which operation the loop calls for
 * which input. What each mode does on real events: ../userspace-pm.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FakeKernel } from '../../../testing/fake-kernel';
import { emptyEvent, type PmEvent } from '../../mptcp-pm/events';
import type { PmPolicy } from '../policy';
import { UserspacePm } from '../userspace-pm';
import { policyFor } from './index';

describe('policyFor', () => {
  it('one policy per mode and role', () => {
    expect(policyFor('fullmesh', 'client', 16).name).toBe('fullmesh-client');
    expect(policyFor('fullmesh', 'server', 16).name).toBe('fullmesh-server');
    expect(policyFor('ndiffports', 'client', 4).name).toBe('ndiffports');
    expect(policyFor('ndiffports', 'server', 4).name).toBe('passive');
  });
});

describe('the loop calls the policy', () => {
  it('for an established connection, an announcement, a closed subflow and address changes', () => {
    const calls: string[] = [];
    const recording: PmPolicy = {
      name: 'recording',
      connectionEstablished: (c) => calls.push(`established ${c.token}`),
      newAddress: (c, id) => calls.push(`new-address ${c.token} ${id}`),
      subflowClosed: (c, pair, why) => calls.push(`subflow-closed ${pair} ${why}`),
      newLocalAddresses: (_c, a) => calls.push(`new-local ${a.join(',')}`),
      deleteLocalAddresses: (_c, a) => calls.push(`delete-local ${a.join(',')}`),
    };
    const kernel = new FakeKernel();
    const pm = new UserspacePm({
      mode: 'fullmesh',
      role: 'client',
      subflows: 8,
      policy: recording,
      commands: kernel.pm,
      log: () => undefined,
    });
    const ev = (kind: PmEvent['kind'], p: Partial<PmEvent> = {}): PmEvent => ({
      ...emptyEvent(0),
      kind,
      token: 5,
      family: 'inet',
      localAddress: '10.0.1.1',
      localPort: 40000,
      remoteAddress: '10.0.1.2',
      remotePort: 5201,
      ...p,
    });
    pm.setLocalAddresses([{ address: '10.0.1.1', family: 'inet', ifindex: 2 }]);
    pm.handleEvent(ev('created'));
    pm.handleEvent(ev('established'));
    pm.handleEvent(ev('announced', { remoteId: 1, remoteAddress: '10.0.2.2' }));
    pm.handleEvent(ev('sub_closed', { localAddress: '10.0.1.1', localPort: 40001, error: 111 }));
    pm.setLocalAddresses([{ address: '10.0.3.1', family: 'inet', ifindex: 3 }]);
    expect(calls).toEqual([
      'established 5',
      'new-address 5 1',
      'subflow-closed 10.0.1.1|10.0.1.2|5201 join failed with ECONNREFUSED',
      'delete-local 10.0.1.1',
      'new-local 10.0.3.1',
    ]);
    expect(kernel.calls).toEqual([]); // a policy that asks for nothing sends nothing
  });
});
