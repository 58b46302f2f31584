import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointSchema, LimitsSchema, type Endpoint } from '../../../shared/types';
import { Lab, ip, labUnavailableReason } from '../../lab/lab';
import { buildProbe, readInNs } from '../../lab/probes/pm-probe-harness';

/** One entry of `ip -j mptcp endpoint show` (iproute2 6.1): flags are boolean keys. */
interface IpEndpoint {
  address: string;
  id: number;
  port?: number;
  dev?: string;
  signal?: boolean;
  subflow?: boolean;
  backup?: boolean;
  fullmesh?: boolean;
  implicit?: boolean;
  rawflags?: string;
}

async function ipEndpoints(ns: string): Promise<IpEndpoint[]> {
  const { stdout } = await ip(['-n', ns, '-j', 'mptcp', 'endpoint', 'show']);
  return (JSON.parse(stdout || '[]') as IpEndpoint[]).sort((a, b) => a.id - b.id);
}

/** Every field the engine reports, checked against ip's view of the same endpoint. */
function expectSame(mine: Endpoint[], theirs: IpEndpoint[]): void {
  expect(mine.map((e) => e.id)).toEqual(theirs.map((e) => e.id));
  mine.forEach((e, i) => {
    const o = theirs[i]!;
    EndpointSchema.parse(e);
    expect(e.address).toBe(o.address);
    expect(e.family).toBe(o.address.includes(':') ? 'inet6' : 'inet');
    expect(e.port).toBe(o.port ?? null);
    // ip prints the name when the ifindex resolves, else "if<N>".
    if (o.dev === undefined) expect(e.ifindex).toBeNull();
    else if (/^if\d+$/.test(o.dev)) expect([e.ifindex, e.ifname]).toEqual([Number(o.dev.slice(2)), null]);
    else expect(e.ifname).toBe(o.dev);
    for (const f of ['signal', 'subflow', 'backup', 'fullmesh'] as const)
      expect(e.flags[f], `${e.address} ${f}`).toBe(o[f] === true);
  });
}

describe.skipIf(labUnavailableReason() !== null)('mptcp_pm reads inside a lab namespace', () => {
  let lab: Lab;
  beforeAll(async () => {
    await buildProbe();
    lab = await Lab.create({ paths: 2, mptcp: 'none' });
    const ns = lab.client;
    await ip(['-n', ns, 'addr', 'add', 'fd99:1::1/64', 'dev', 'c0', 'nodad']);
    for (const args of [
      ['10.99.1.1', 'id', '3', 'port', '10000', 'signal'],
      ['10.99.2.1', 'subflow', 'backup', 'dev', 'c1'],
      ['fd99:1::1', 'id', '20', 'subflow', 'fullmesh'],
      ['10.99.7.7', 'id', '255', 'signal', 'backup'],
    ]) {
      await ip(['-n', ns, 'mptcp', 'endpoint', 'add', ...args]);
    }
    await ip(['-n', ns, 'mptcp', 'limits', 'set', 'subflows', '5', 'add_addr_accepted', '3']);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('resolves the family at runtime and reads endpoints as ip does, field by field', async () => {
    const r = await readInNs(lab.client);
    expect(r.family.version).toBe(1);
    expect(r.family.groups).toHaveProperty('mptcp_pm_events');
    const theirs = await ipEndpoints(lab.client);
    expect(theirs).toHaveLength(4);
    expectSame(r.endpoints, theirs);
    // Spot values, so a decoder and ip cannot agree on something both get wrong.
    expect(r.endpoints.find((e) => e.id === 3)).toMatchObject({
      address: '10.99.1.1',
      port: 10000,
      rawFlags: 0x01,
    });
    const c1 = r.interfaces.find((i) => i.name === 'c1')!;
    expect(r.endpoints.find((e) => e.address === '10.99.2.1')).toMatchObject({
      ifindex: c1.index,
      ifname: 'c1',
      rawFlags: 0x06,
    });
    expect(r.endpoints.find((e) => e.id === 20)).toMatchObject({
      family: 'inet6',
      address: 'fd99:1::1',
      rawFlags: 0x0a,
    });
    expect(r.endpoints.find((e) => e.id === 255)).toMatchObject({ rawFlags: 0x05, ifindex: null });
  });

  it('reads the limits as ip mptcp limits show prints them', async () => {
    const r = await readInNs(lab.client);
    const { stdout } = await ip(['-n', lab.client, 'mptcp', 'limits', 'show']);
    const m = /add_addr_accepted (\d+) subflows (\d+)/.exec(stdout);
    expect(m).not.toBeNull();
    expect(LimitsSchema.parse(r.limits)).toEqual({ addAddrAccepted: Number(m![1]), subflows: Number(m![2]) });
    expect(r.limits).toEqual({ subflows: 5, addAddrAccepted: 3 });
  });

  it('the other namespace has its own endpoints and limits', async () => {
    const r = await readInNs(lab.server);
    expect(r.endpoints).toEqual([]);
    expect(r.limits).toEqual({ subflows: 2, addAddrAccepted: 0 });
  });

  it('an endpoint outlives its interface: ifindex kept, ifname null', async () => {
    const before = await readInNs(lab.client);
    const c1 = before.interfaces.find((i) => i.name === 'c1')!;
    await ip(['-n', lab.client, 'link', 'del', 'c1']);
    const r = await readInNs(lab.client);
    expect(r.interfaces.map((i) => i.name)).not.toContain('c1');
    const ep = r.endpoints.find((e) => e.address === '10.99.2.1');
    expect(ep).toMatchObject({ ifindex: c1.index, ifname: null });
    expectSame(r.endpoints, await ipEndpoints(lab.client));
  });
});
