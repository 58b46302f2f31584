import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RTA_DST, RTA_OIF, RTA_SRC, RTM_F_LOOKUP_TABLE, RTMSG_LEN } from '../uapi/rtnetlink';
import { buildRouteGetRequest, decodeRoute, routableAddress } from './route';

/** Recorded by src-main/lab/probes/record-route-fixture.ts, with `ip route get` as the oracle. */
const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'route.json'), 'utf8')) as {
  ifindexC0: number;
  oracle: Record<string, string>;
  lookups: { name: string; hex: string | null; errno: string | null }[];
  dump: string[];
};

/** ifindex → name, from the oracle's `ip -o link show`. */
const names = new Map(
  [...fx.oracle.links!.matchAll(/^(\d+): ([^:@]+)[@:]/gm)].map((m) => [Number(m[1]), m[2]!]),
);

const decode = (hex: string) => {
  const b = Buffer.from(hex, 'hex');
  const r = decodeRoute(b, 0, b.length);
  if (!r) throw new Error('not a route');
  return r;
};

describe('RTM_GETROUTE lookup (recorded on a lab client with source rules)', () => {
  for (const name of ['source rule, path 0', 'source rule, path 1', 'bound to c0', 'ipv6 connected']) {
    it(`${name}: the device, gateway and table ip route get printed`, () => {
      const rec = fx.lookups.find((l) => l.name === name);
      expect(rec?.hex).toBeTruthy();
      const r = decode(rec!.hex!);
      const oracle = fx.oracle[name]!;
      const dev = / dev (\S+)/.exec(oracle)?.[1];
      expect(r.oif).not.toBeNull();
      expect(names.get(r.oif!)).toBe(dev);
      expect(r.gateway).toBe(/ via (\S+)/.exec(oracle)?.[1] ?? null);
      // `ip route get` prints "table N" only for a table other than main.
      expect(r.table).toBe(Number(/ table (\d+)/.exec(oracle)?.[1] ?? 254));
      expect(r.dst).toBe(oracle.split(' ')[0]);
      expect(r.src).toBe(/ from (\S+)/.exec(oracle)?.[1]);
    });
  }

  it('no route: the kernel refuses with ENETUNREACH, as ip route get says', () => {
    expect(fx.lookups.find((l) => l.name === 'no route')).toMatchObject({ hex: null, errno: 'ENETUNREACH' });
    expect(fx.oracle['no route']).toContain('Network is unreachable');
  });

  it('decodes every dumped route of every table that ip route show table all lists', () => {
    const routes = fx.dump.map(decode);
    const lines = fx.oracle.dump!.trim().split('\n');
    expect(routes).toHaveLength(lines.length);
    const sourceTables = routes.filter((r) => r.table === 100 || r.table === 101);
    expect(sourceTables.map((r) => [r.table, r.dst, r.dstLen, r.gateway, names.get(r.oif!)])).toEqual([
      [100, '10.99.100.0', 24, '10.99.1.2', 'c0'],
      [101, '10.99.100.0', 24, '10.99.2.2', 'c1'],
    ]);
    const connected = routes.find((r) => r.table === 254 && r.dst === '10.99.2.0');
    expect(connected).toMatchObject({ dstLen: 24, prefsrc: '10.99.2.1', scope: 253, protocol: 2 });
  });

  it('rejects a body too short for struct rtmsg and a family that is not IP', () => {
    expect(decodeRoute(Buffer.alloc(RTMSG_LEN - 1), 0, RTMSG_LEN - 1)).toBeNull();
    const b = Buffer.alloc(RTMSG_LEN);
    b[0] = 7;
    expect(decodeRoute(b, 0, b.length)).toBeNull();
  });
});

describe('buildRouteGetRequest', () => {
  it('asks like ip route get DST from SRC oif N: full prefixes, RTA_DST, RTA_SRC, RTA_OIF', () => {
    const b = buildRouteGetRequest({ src: '10.99.2.1', dst: '10.99.100.2', oif: 3 })!;
    expect([b[0], b[1], b[2]]).toEqual([2, 32, 32]);
    expect(b.readUInt32LE(8)).toBe(RTM_F_LOOKUP_TABLE);
    const attrs: [number, string][] = [];
    for (let o = RTMSG_LEN; o < b.length; o += (b.readUInt16LE(o) + 3) & ~3)
      attrs.push([b.readUInt16LE(o + 2), b.subarray(o + 4, o + b.readUInt16LE(o)).toString('hex')]);
    expect(attrs).toEqual([
      [RTA_DST, '0a636402'],
      [RTA_SRC, '0a630201'],
      [RTA_OIF, '03000000'],
    ]);
  });

  it('routes a v4-mapped subflow as IPv4, and refuses mixed or bad addresses', () => {
    expect(routableAddress('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(buildRouteGetRequest({ src: '::ffff:10.0.0.1', dst: '::ffff:10.0.0.2' })?.[0]).toBe(2);
    expect(buildRouteGetRequest({ src: '10.0.0.1', dst: 'fd00::1' })).toBeNull();
    expect(buildRouteGetRequest({ src: 'nonsense', dst: '10.0.0.1' })).toBeNull();
  });
});
