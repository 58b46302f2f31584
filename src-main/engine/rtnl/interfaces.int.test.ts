import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetInterfaceSchema, type NetInterface } from '../../../shared/types';
import { Lab, ip, labUnavailableReason } from '../../lab/lab';
import { buildProbe, readInNs } from '../../lab/probes/pm-probe-harness';

/** The parts of `ip -d -j addr show` we compare. */
interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  min_mtu?: number;
  max_mtu?: number;
  operstate: string;
  addr_info: { family: string; local: string; prefixlen: number; scope: string }[];
}

const scopes: Record<string, number> = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 };

async function ipLinks(ns: string): Promise<IpLink[]> {
  const { stdout } = await ip(['-n', ns, '-d', '-j', 'addr', 'show']);
  return (JSON.parse(stdout) as IpLink[]).sort((a, b) => a.ifindex - b.ifindex);
}

function expectSame(mine: NetInterface[], theirs: IpLink[]): void {
  expect(mine.map((i) => [i.index, i.name])).toEqual(theirs.map((l) => [l.ifindex, l.ifname]));
  mine.forEach((i, n) => {
    const o = theirs[n]!;
    NetInterfaceSchema.parse(i);
    expect(i.mtuBytes, i.name).toBe(o.mtu);
    expect(i.minMtuBytes, i.name).toBe(o.min_mtu ?? null);
    expect(i.maxMtuBytes, i.name).toBe(o.max_mtu ?? null);
    expect(i.operState.toUpperCase(), i.name).toBe(o.operstate);
    expect(i.adminUp, i.name).toBe(o.flags.includes('UP'));
    expect(i.loopback, i.name).toBe(o.flags.includes('LOOPBACK'));
    // ip prints LOWER_UP but hides RUNNING; on these devices the two go together.
    expect(i.running, i.name).toBe(o.flags.includes('LOWER_UP'));
    const norm = (a: { family: string; address: string; prefixLen: number; scope: number }[]) =>
      a.map((x) => `${x.family} ${x.address}/${x.prefixLen} scope ${x.scope}`).sort();
    expect(norm(i.addresses), i.name).toEqual(
      norm(
        o.addr_info.map((a) => ({
          family: a.family,
          address: a.local,
          prefixLen: a.prefixlen,
          scope: scopes[a.scope] ?? -1,
        })),
      ),
    );
  });
}

describe.skipIf(labUnavailableReason() !== null)('rtnetlink interface reads inside a lab namespace', () => {
  let lab: Lab;
  beforeAll(async () => {
    await buildProbe();
    lab = await Lab.create({ paths: 2, mptcp: 'none', pathOptions: [{ mtuBytes: 1400 }] });
    await ip(['-n', lab.client, 'addr', 'add', 'fd99:1::1/64', 'dev', 'c0', 'nodad']);
    await ip(['-n', lab.client, 'addr', 'add', '10.99.9.1', 'peer', '10.99.9.2/32', 'dev', 'c0']);
    await ip(['-n', lab.client, 'addr', 'add', '10.99.8.1/16', 'dev', 'c1', 'scope', 'link']);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('matches ip -d -j addr show: names, indexes, MTUs, operstate, flags, addresses', async () => {
    const r = await readInNs(lab.client);
    expectSame(r.interfaces, await ipLinks(lab.client));
    const c0 = r.interfaces.find((i) => i.name === 'c0')!;
    expect(c0).toMatchObject({
      mtuBytes: 1400,
      minMtuBytes: 68,
      maxMtuBytes: 65535,
      operState: 'up',
      usable: true,
    });
    expect(c0.addresses).toContainEqual({ family: 'inet', address: '10.99.9.1', prefixLen: 32, scope: 0 });
    expect(c0.addresses).toContainEqual({ family: 'inet6', address: 'fd99:1::1', prefixLen: 64, scope: 0 });
    expect(r.interfaces.find((i) => i.name === 'c1')!.addresses).toContainEqual({
      family: 'inet',
      address: '10.99.8.1',
      prefixLen: 16,
      scope: 253,
    });
    expect(r.interfaces.find((i) => i.name === 'lo')).toMatchObject({
      operState: 'unknown',
      loopback: true,
      usable: true,
    });
  });

  it('a link set down is operstate DOWN and not usable', async () => {
    await ip(['-n', lab.client, 'link', 'set', 'c1', 'down']);
    const r = await readInNs(lab.client);
    expect(r.interfaces.find((i) => i.name === 'c1')).toMatchObject({
      operState: 'down',
      operStateRaw: 2,
      adminUp: false,
      running: false,
      usable: false,
    });
    expectSame(r.interfaces, await ipLinks(lab.client));
  });

  it('a link whose peer is down: admin up, no carrier, operstate DOWN, not usable', async () => {
    await ip(['-n', lab.server, 'link', 'set', 's0', 'down']);
    // The operstate follows the carrier after the linkwatch delay (about 1 s).
    const c0 = await lab.waitFor(
      'c0 to lose its carrier',
      async () => (await readInNs(lab.client)).interfaces.find((i) => i.name === 'c0')!,
      (i) => i.operState === 'down',
    );
    expect(c0).toMatchObject({ adminUp: true, running: false, usable: false });
    expectSame((await readInNs(lab.client)).interfaces, await ipLinks(lab.client));
  });
});
