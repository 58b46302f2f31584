/**
 * Records the fixture the route codec's unit test decodes (src-main/engine/rtnl/fixtures/route.json):
 * the raw RTM_NEWROUTE bodies the kernel answers to RTM_GETROUTE lookups (`ip route get DST from
 * SRC [oif DEV]`) and to a route dump, taken in the client namespace of a shared-bottleneck lab
 * (two paths, a source rule and table per path), with `ip route get` output as the oracle.
 * Run as root, rarely (the fixture is checked in):
 *
 *   node_modules/.bin/esbuild src-main/lab/probes/record-route-fixture.ts --bundle --platform=node \
 *     --format=esm --external:netlink --outfile=.cache/record-route.mjs && node .cache/record-route.mjs
 *
 * The same bundle runs inside the namespace with the argument `probe` (netlink sockets see their
 * process's namespace).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoName, NetlinkError, NlSocket } from '../../engine/netlink/core';
import { buildRouteDumpRequest, buildRouteGetRequest, type RouteQuery } from '../../engine/rtnl/route';
import { NETLINK_ROUTE } from '../../engine/uapi/netlink';
import { RTM_GETROUTE, RTM_NEWROUTE } from '../../engine/uapi/rtnetlink';
import { ip, Lab, nsRun } from '../lab';

interface Case {
  name: string;
  query: RouteQuery;
  /** The device name of `oif`, for the `ip route get` oracle. */
  oifName?: string;
}

const CASES: Case[] = [
  { name: 'source rule, path 0', query: { src: '10.99.1.1', dst: '10.99.100.2' } },
  { name: 'source rule, path 1', query: { src: '10.99.2.1', dst: '10.99.100.2' } },
  { name: 'bound to c0', query: { src: '10.99.2.1', dst: '10.99.100.2', oif: -1 }, oifName: 'c0' },
  { name: 'ipv6 connected', query: { src: 'fd99:1::1', dst: 'fd99:1::2' } },
  { name: 'no route', query: { src: '10.99.1.1', dst: '192.0.2.1' } },
];

async function probe(ifindexC0: number): Promise<void> {
  const sock = new NlSocket(NETLINK_ROUTE);
  const out: { lookups: { name: string; hex: string | null; errno: string | null }[]; dump: string[] } = {
    lookups: [],
    dump: [],
  };
  for (const c of CASES) {
    const q = c.query.oif === -1 ? { ...c.query, oif: ifindexC0 } : c.query;
    try {
      const replies = await sock.get(RTM_GETROUTE, buildRouteGetRequest(q)!, c.name);
      out.lookups.push({ name: c.name, hex: replies[0]?.toString('hex') ?? null, errno: null });
    } catch (e) {
      out.lookups.push({
        name: c.name,
        hex: null,
        errno: e instanceof NetlinkError ? errnoName(e.errnoNumber) : String(e),
      });
    }
  }
  await sock.dump(RTM_GETROUTE, buildRouteDumpRequest(), 'route dump', (buf, type, off, len) => {
    if (type === RTM_NEWROUTE) out.dump.push(buf.subarray(off, off + len).toString('hex'));
  });
  sock.close();
  process.stdout.write(JSON.stringify(out));
}

async function main(): Promise<void> {
  const lab = await Lab.create({ topology: 'shared-bottleneck', paths: 2 });
  try {
    const ns = lab.client;
    await ip(['-n', ns, 'addr', 'add', 'fd99:1::1/64', 'dev', 'c0', 'nodad']);
    const links = (await ip(['-n', ns, '-o', 'link', 'show', 'c0'])).stdout;
    const ifindexC0 = Number(/^(\d+):/.exec(links)?.[1]);
    const raw = JSON.parse(
      (await nsRun(ns, 'node', [process.argv[1]!, 'probe', String(ifindexC0)])).stdout,
    ) as {
      lookups: { name: string; hex: string | null; errno: string | null }[];
      dump: string[];
    };
    const oracle: Record<string, string> = {};
    for (const c of CASES) {
      const args = ['-n', ns, 'route', 'get', c.query.dst, 'from', c.query.src];
      if (c.oifName) args.push('oif', c.oifName);
      oracle[c.name] = await ip(args).then(
        (r) => r.stdout,
        (e: unknown) => String(e),
      );
    }
    oracle['dump'] = (await ip(['-n', ns, 'route', 'show', 'table', 'all'])).stdout;
    oracle['links'] = (await ip(['-n', ns, '-o', 'link', 'show'])).stdout;
    const kernel = (await nsRun(ns, 'uname', ['-r'])).stdout.trim();
    writeFileSync(
      join(process.cwd(), 'src-main', 'engine', 'rtnl', 'fixtures', 'route.json'),
      `${JSON.stringify({ kernel, recordedBy: 'src-main/lab/probes/record-route-fixture.ts', ifindexC0, oracle, ...raw }, null, 2)}\n`,
    );
  } finally {
    await lab.destroy();
  }
}

if (process.argv[2] === 'probe') await probe(Number(process.argv[3]));
else await main();
