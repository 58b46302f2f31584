/**
 * The userspace-PM runner against the in-memory kernel (src-main/testing/fake-kernel.ts): what it
 * reads at start (addresses, existing connections and their local ids), what the events and
 * notifications it subscribed to make it send, and the resync after lost events. The real kernel:
 * userspace-pm.int.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { prng, syntheticConnection, syntheticSubflow } from '../../../shared/testing/synthetic';
import type { Connection, Endpoint } from '../../../shared/types';
import { FakeKernel } from '../../testing/fake-kernel';
import { emptyEvent, type PmEvent } from '../mptcp-pm/events';
import type { DecodedAddress, DecodedLink } from '../rtnl/interfaces';
import { IFF_LOOPBACK, IFF_RUNNING, IFF_UP } from '../uapi/if-link';
import { runUserspacePm, type RunningPm } from './userspace-pm-runner';
import type { PmLogEntry } from './userspace-pm';

const link = (index: number, name: string, flags = IFF_UP | IFF_RUNNING): DecodedLink => ({
  index,
  name,
  flags,
  operState: 'up',
  operStateRaw: 6,
  mtuBytes: 1500,
  minMtuBytes: 68,
  maxMtuBytes: 65535,
});
const addr = (index: number, address: string, p: Partial<DecodedAddress> = {}): DecodedAddress => ({
  index,
  family: 'inet',
  address,
  prefixLen: 24,
  scope: 0,
  flags: 0,
  ...p,
});

/** An established connection 10.0.1.1:40000 → 10.0.1.2:5201 with its initial subflow only. */
function connection(token: number): Connection {
  const r = prng(token);
  const sf = {
    ...syntheticSubflow(r, token, 0, 5201),
    family: 'inet' as const,
    localAddress: '10.0.1.1',
    localPort: 40000,
    remoteAddress: '10.0.1.2',
    localId: 0,
    remoteId: 0,
  };
  return {
    ...syntheticConnection(r, token, 0),
    state: 'ESTABLISHED',
    fallback: false,
    localAddress: '10.0.1.1',
    localPort: 40000,
    remoteAddress: '10.0.1.2',
    remotePort: 5201,
    subflows: [sf],
  };
}

const localId = (address: string, id: number): Endpoint => ({
  id,
  family: 'inet',
  address,
  port: null,
  ifindex: null,
  ifname: null,
  flags: { signal: false, subflow: false, backup: false, fullmesh: false, implicit: false, laminar: false },
  rawFlags: 0,
});

function kernelWithTwoAddresses(): FakeKernel {
  return new FakeKernel({
    links: [link(1, 'lo', IFF_UP | IFF_RUNNING | IFF_LOOPBACK), link(2, 'eth0'), link(3, 'eth1')],
    addresses: [
      addr(1, '127.0.0.1', { scope: 254 }),
      addr(2, '10.0.1.1'),
      addr(3, '10.0.2.1'),
      addr(3, '10.0.3.1', { flags: 0x40 }), // IFA_F_TENTATIVE: not a source yet
    ],
  });
}

const running: RunningPm[] = [];
afterEach(() => {
  for (const r of running.splice(0)) r.stop();
  vi.useRealTimers();
});

async function start(kernel: FakeKernel, log: PmLogEntry[] = []): Promise<RunningPm> {
  const r = await runUserspacePm({
    mode: 'fullmesh',
    role: 'client',
    subflows: 16,
    log: (e) => log.push(e),
    kernel,
  });
  running.push(r);
  return r;
}

describe('runUserspacePm on the fake kernel', () => {
  it('adopts an existing userspace-PM connection and meshes it over the usable addresses', async () => {
    const k = kernelWithTwoAddresses();
    k.state.connections = [connection(7), connection(8)];
    k.state.connectionAddresses.set(7, [localId('10.0.1.1', 0)]); // 8: the in-kernel PM's (EINVAL)
    const log: PmLogEntry[] = [];
    const r = await start(k, log);
    expect(r.pm.tokens()).toEqual([7]);
    expect(log.find((e) => e.token === 8)).toMatchObject({ what: 'adopt', result: 'skipped' });
    // Loopback, scope-host and tentative addresses are left out.
    expect(k.sent.creates).toEqual([
      { token: 7, local: { address: '10.0.2.1', id: 1 }, remote: { address: '10.0.1.2', port: 5201 } },
    ]);
    expect(k.watchers).toEqual({ addresses: 1, events: 1 });
  });

  it('acts on events, re-reads the addresses after a notification, and closes its subscriptions on stop', async () => {
    vi.useFakeTimers();
    const k = kernelWithTwoAddresses();
    const r = await start(k);
    const ev = (kind: PmEvent['kind'], p: Partial<PmEvent>): PmEvent => ({
      ...emptyEvent(0),
      kind,
      token: 9,
      family: 'inet',
      ...p,
    });
    k.emitMptcpEvent(
      ev('established', {
        localAddress: '10.0.1.1',
        localPort: 41000,
        remoteAddress: '10.0.1.2',
        remotePort: 5201,
      }),
    );
    expect(k.sent.creates.map((c) => c.local.address)).toEqual(['10.0.2.1']);
    // eth1's address goes: after the debounce the runner reads the kernel again and destroys.
    k.emitMptcpEvent(
      ev('sub_established', {
        localAddress: '10.0.2.1',
        localPort: 42000,
        remoteAddress: '10.0.1.2',
        remotePort: 5201,
        localId: 1,
      }),
    );
    k.state.addresses = k.state.addresses.filter((a) => a.address !== '10.0.2.1');
    k.emitAddressChange('deladdr');
    await vi.advanceTimersByTimeAsync(100);
    expect(k.sent.destroys).toEqual([
      { token: 9, local: { address: '10.0.2.1', port: 42000 }, remote: { address: '10.0.1.2', port: 5201 } },
    ]);
    r.stop();
    expect(k.watchers).toEqual({ addresses: 0, events: 0 });
    expect(k.closed).toBe(false); // the caller's kernel stays open
  });

  it('events lost: logs the drop count and resyncs from the kernel without duplicating', async () => {
    const k = kernelWithTwoAddresses();
    const log: PmLogEntry[] = [];
    await start(k, log);
    // A connection whose every event was lost: only the kernel knows it, meshed already.
    const c = connection(11);
    c.subflows.push({ ...c.subflows[0]!, localAddress: '10.0.2.1', localPort: 42001, localId: 1 });
    k.state.connections = [c];
    k.state.connectionAddresses.set(11, [localId('10.0.1.1', 0), localId('10.0.2.1', 1)]);
    k.emitLost({ dropped: 42 });
    await vi.waitFor(() => expect(log.some((e) => e.what === 'resync')).toBe(true));
    expect(log.find((e) => e.what === 'events-lost')).toMatchObject({ detail: { dropped: 42 } });
    expect(log.find((e) => e.what === 'resync')).toMatchObject({ result: 'ok', detail: { adopted: 1 } });
    expect(k.sent.creates).toEqual([]);
  });
});
