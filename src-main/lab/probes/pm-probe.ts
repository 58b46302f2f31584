/**
 * A tiny probe around the settings readers, for the integration tests and the fixture recorder
 * only (the per-netns agent replaces it). Bundled with esbuild and run under `ip netns exec NS`
 * because a netlink socket sees the netns of the process that opens it. Prints one JSON
 * document on stdout.
 *
 *   read    { endpoints, limits, interfaces, status, family }
 *   record  the raw reply bodies (hex) of every request the readers make, for unit fixtures
 */
import { NlSocket } from '../../engine/netlink/core';
import {
  buildGetAddrDumpRequest,
  buildGetLimitsRequest,
  getLimits,
  listEndpoints,
} from '../../engine/mptcp-pm/endpoints';
import { buildGetFamilyRequest, resolveMptcpPm } from '../../engine/mptcp-pm/family';
import { buildRtmGetAddrRequest, buildRtmGetLinkRequest, listInterfaces } from '../../engine/rtnl/interfaces';
import { GENL_ID_CTRL } from '../../engine/uapi/genetlink';
import { MPTCP_PM_NAME } from '../../engine/uapi/mptcp-pm';
import { NETLINK_GENERIC, NETLINK_ROUTE } from '../../engine/uapi/netlink';
import { RTM_GETADDR, RTM_GETLINK } from '../../engine/uapi/rtnetlink';
import { readKernelStatus } from '../../engine/sysctl/status';

interface Recorded {
  type: number;
  body: string;
}

async function record(genl: NlSocket, route: NlSocket): Promise<Record<string, Recorded[]>> {
  const fam = await resolveMptcpPm(genl);
  const dump = async (sock: NlSocket, type: number, req: Buffer): Promise<Recorded[]> => {
    const out: Recorded[] = [];
    await sock.dump(type, req, 'record', (buf, t, off, len) =>
      out.push({ type: t, body: buf.toString('hex', off, off + len) }),
    );
    return out;
  };
  const single = async (type: number, req: Buffer): Promise<Recorded[]> =>
    (await genl.request(type, req, 'record')).map((b) => ({ type, body: b.toString('hex') }));
  return {
    family: await single(GENL_ID_CTRL, buildGetFamilyRequest(MPTCP_PM_NAME)),
    endpoints: await dump(genl, fam.familyId, buildGetAddrDumpRequest()),
    limits: await single(fam.familyId, buildGetLimitsRequest()),
    links: await dump(route, RTM_GETLINK, buildRtmGetLinkRequest()),
    addresses: await dump(route, RTM_GETADDR, buildRtmGetAddrRequest()),
  };
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'read';
  const genl = new NlSocket(NETLINK_GENERIC);
  const route = new NlSocket(NETLINK_ROUTE);
  try {
    if (mode === 'read') {
      const fam = await resolveMptcpPm(genl);
      const interfaces = await listInterfaces(route);
      const names = new Map(interfaces.map((i) => [i.index, i.name]));
      const out = {
        family: { familyId: fam.familyId, version: fam.version, groups: Object.fromEntries(fam.groups) },
        endpoints: await listEndpoints(genl, fam, names),
        limits: await getLimits(genl, fam),
        interfaces,
        status: await readKernelStatus({ netns: process.argv[3] ?? null }),
      };
      process.stdout.write(JSON.stringify(out));
    } else if (mode === 'record') {
      process.stdout.write(JSON.stringify(await record(genl, route)));
    } else {
      throw new Error(`unknown mode ${mode}`);
    }
  } finally {
    genl.close();
    route.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
