/**
 * The privileged operations behind a plan, over netlink and procfs only (never a shell). Every
 * input is checked again here, even though plans are built from validated configs, because this
 * is the last line before the kernel.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { EndpointSpec } from '../../../shared/plan';
import { ApiFailure } from '../../../shared/result';
import { nlaU32, type NlSocket } from '../netlink/core';
import {
  buildAddEndpointRequest,
  buildDelEndpointRequest,
  buildSetLimitsRequest,
  listEndpoints,
  type MptcpPmFamily,
} from '../pm/mptcp-pm';
import { IFINFOMSG_LEN, RTM_NEWLINK } from '../rtnl/interfaces';
import type { KernelWriter } from './apply';
import { CcIdSchema, type CcId } from '../../../shared/cc';

/** The only sysctls a plan may write (reference §6): MPTCP's own, CC and TCP buffers. */
const SYSCTL_ALLOWED =
  /^net\.mptcp\.[a-z0-9_]{1,40}$|^net\.ipv4\.tcp_(congestion_control|rmem|wmem)$|^net\.core\.[rw]mem_max$/;
/** One token or a tab/space separated triplet; never a newline (which would write a second value). */
const SYSCTL_VALUE = /^[A-Za-z0-9_-]{1,32}$|^\d{1,10}[\t ]+\d{1,10}[\t ]+\d{1,10}$/;
/** IFLA_MTU (uapi: linux/if_link.h). */
const IFLA_MTU = 4;

export function sysctlPath(name: string, procRoot = '/proc'): string {
  if (!SYSCTL_ALLOWED.test(name))
    throw new ApiFailure('EPERM', `${name} is not a setting MPTCP Studio may change`);
  return `${procRoot}/sys/${name.replace(/\./g, '/')}`;
}

const normalise = (v: string): string => v.trim().split(/\s+/).join(' ');

export interface NetlinkWriterDeps {
  genl: () => NlSocket;
  route: () => NlSocket;
  family: () => Promise<MptcpPmFamily>;
  procRoot?: string;
  /** Coupled CC registration (BPF struct_ops); absent = plans with such steps fail. */
  cc?: { load(id: CcId): Promise<unknown>; unload(id: CcId): Promise<unknown> };
}

export function netlinkWriter(deps: NetlinkWriterDeps): KernelWriter {
  const procRoot = deps.procRoot ?? '/proc';
  return {
    async writeSysctl(name, value) {
      if (!SYSCTL_VALUE.test(value))
        throw new ApiFailure('EINVAL', `${name}: "${value}" is not a valid value`);
      const path = sysctlPath(name, procRoot);
      await writeFile(path, `${value}\n`);
      // Some entries take any string and keep something else (or nothing): read back to be sure.
      const now = await readFile(path, 'utf8');
      if (normalise(now) !== normalise(value)) {
        throw new ApiFailure('EINVAL', `${name}: wrote "${value}" but the kernel kept "${now.trim()}"`);
      }
    },
    async setLimits(subflows, addAddrAccepted) {
      const fam = await deps.family();
      await deps
        .genl()
        .request(fam.familyId, buildSetLimitsRequest({ subflows, addAddrAccepted }), 'set MPTCP limits');
    },
    async addEndpoint(spec: EndpointSpec) {
      const fam = await deps.family();
      await deps.genl().request(fam.familyId, buildAddEndpointRequest(spec), `add endpoint ${spec.address}`);
      if (spec.id) return spec.id;
      // ADD_ADDR does not return the id the kernel allocated: find the endpoint again.
      const eps = await listEndpoints(deps.genl(), fam);
      const found = eps.find((e) => e.address === spec.address && e.port === spec.port && !e.flags.implicit);
      if (!found) throw new ApiFailure('KERNEL', `endpoint ${spec.address} was accepted but is not listed`);
      return found.id;
    },
    async delEndpoint(id) {
      const fam = await deps.family();
      await deps.genl().request(fam.familyId, buildDelEndpointRequest({ id }), `delete endpoint id ${id}`);
    },
    async registerCc(name) {
      if (!deps.cc) throw new ApiFailure('UNSUPPORTED', 'this engine cannot register congestion controls');
      await deps.cc.load(CcIdSchema.parse(name));
    },
    async unregisterCc(name) {
      if (!deps.cc) throw new ApiFailure('UNSUPPORTED', 'this engine cannot unregister congestion controls');
      await deps.cc.unload(CcIdSchema.parse(name));
    },
    async setMtu(ifindex, mtuBytes) {
      if (!Number.isInteger(ifindex) || ifindex < 1)
        throw new ApiFailure('EINVAL', `bad interface index ${ifindex}`);
      if (!Number.isInteger(mtuBytes) || mtuBytes < 68 || mtuBytes > 65535) {
        throw new ApiFailure('EINVAL', `MTU ${mtuBytes} is out of range 68..65535`);
      }
      // struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; }
      const ifi = Buffer.alloc(IFINFOMSG_LEN);
      ifi.writeInt32LE(ifindex, 4);
      await deps
        .route()
        .request(
          RTM_NEWLINK,
          Buffer.concat([ifi, nlaU32(IFLA_MTU, mtuBytes)]),
          `set MTU of ifindex ${ifindex}`,
        );
    },
  };
}
