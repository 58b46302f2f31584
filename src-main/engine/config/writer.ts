/**
 * The privileged operations behind a plan, over netlink and procfs only (never a shell). Every
 * input is checked again here, even though plans are built from validated configs, because this
 * is the last line before the kernel.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { EndpointSpec } from '../../../shared/plan';
import { ApiFailure } from '../../../shared/result';
import { nlaU32, type NlSocket } from '../netlink/core';
import {
  buildAddEndpointRequest,
  buildDelEndpointRequest,
  buildSetFlagsRequest,
  buildSetLimitsRequest,
  listEndpoints,
} from '../mptcp-pm/endpoints';
import type { MptcpPmFamily } from '../mptcp-pm/family';
import { IFLA_MTU } from '../uapi/if-link';
import { IFINFOMSG_LEN, RTM_NEWLINK } from '../uapi/rtnetlink';
import type { KernelWriter } from './apply';
import { rpFilterOf } from '../../../shared/plan-routing';
import { routingWriter } from '../rtnl/rules';
import { CcIdSchema, type CcId } from '../../../shared/cc';

/**
 * The only sysctls a plan (or the path manager) may write: MPTCP's own, CC and TCP buffers, and
 * rp_filter of one interface (docs/kernel-interfaces.md, "Sysctls"; never `all` or `default`).
 */
const SYSCTL_ALLOWED =
  /^net\.mptcp\.[a-z0-9_]{1,40}$|^net\.ipv4\.tcp_(congestion_control|rmem|wmem)$|^net\.core\.[rw]mem_max$/;
/** One token or a tab/space separated triplet; never a newline (which would write a second value). */
const SYSCTL_VALUE = /^[A-Za-z0-9_-]{1,32}$|^\d{1,10}[\t ]+\d{1,10}[\t ]+\d{1,10}$/;

export function sysctlPath(name: string, procRoot = '/proc'): string {
  // An interface name may hold dots (`eth0.100`): its directory is the name as it is.
  const rp = rpFilterOf(name);
  if (rp !== null && !rp.includes('/')) return `${procRoot}/sys/net/ipv4/conf/${rp}/rp_filter`;
  if (!SYSCTL_ALLOWED.test(name))
    throw new ApiFailure('EPERM', `${name} is not a setting MPTCP Studio may change`);
  return `${procRoot}/sys/${name.replace(/\./g, '/')}`;
}

const normalise = (v: string): string => v.trim().split(/\s+/).join(' ');

function checkedValue(name: string, value: string): string {
  if (!SYSCTL_VALUE.test(value)) throw new ApiFailure('EINVAL', `${name}: "${value}" is not a valid value`);
  return value;
}

/** Some entries take any string and keep something else (or nothing): the read-back decides. */
function checkReadBack(name: string, value: string, now: string): void {
  if (normalise(now) !== normalise(value)) {
    throw new ApiFailure('EINVAL', `${name}: wrote "${value}" but the kernel kept "${now.trim()}"`);
  }
}

/** The writer's sysctl part alone (procfs, no netlink): allow-list, write, read-back. */
export function sysctlWriter(procRoot = '/proc'): Pick<KernelWriter, 'writeSysctl'> {
  return {
    async writeSysctl(name, value) {
      const line = `${checkedValue(name, value)}\n`;
      const path = sysctlPath(name, procRoot);
      await writeFile(path, line);
      checkReadBack(name, value, await readFile(path, 'utf8'));
    },
  };
}

/** The same, synchronously: for a process 'exit' handler's last resort (pm/pm-controller.ts). */
export function writeSysctlSync(name: string, value: string, procRoot = '/proc'): void {
  const line = `${checkedValue(name, value)}\n`;
  const path = sysctlPath(name, procRoot);
  writeFileSync(path, line);
  checkReadBack(name, value, readFileSync(path, 'utf8'));
}

export interface NetlinkWriterDeps {
  genl: () => NlSocket;
  route: () => NlSocket;
  family: () => Promise<MptcpPmFamily>;
  procRoot?: string;
  /** Coupled CC registration (BPF struct_ops); absent = plans with such steps fail. */
  cc?: { load(id: CcId): Promise<unknown>; unload(id: CcId): Promise<unknown> };
}

export function netlinkWriter(deps: NetlinkWriterDeps): KernelWriter {
  return {
    ...sysctlWriter(deps.procRoot),
    ...routingWriter(deps.route),
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
    async setEndpointFlags(id, flags) {
      const fam = await deps.family();
      await deps
        .genl()
        .request(
          fam.familyId,
          buildSetFlagsRequest({ id, backup: flags.backup, fullmesh: flags.fullmesh }),
          `change the flags of endpoint id ${id}`,
        );
      // SET_FLAGS answers success for bits it ignores (net/mptcp/pm_kernel.c masks all but backup
      // and fullmesh): read back to be sure the endpoint has what was asked.
      const now = (await listEndpoints(deps.genl(), fam)).find((e) => e.id === id);
      if (!now) throw new ApiFailure('ENOENT', `endpoint id ${id} is gone`);
      if (now.flags.backup !== flags.backup || now.flags.fullmesh !== flags.fullmesh) {
        throw new ApiFailure(
          'KERNEL',
          `endpoint id ${id}: asked for backup ${flags.backup ? 'on' : 'off'}, fullmesh ${flags.fullmesh ? 'on' : 'off'}, but the kernel kept backup ${now.flags.backup ? 'on' : 'off'}, fullmesh ${now.flags.fullmesh ? 'on' : 'off'}`,
        );
      }
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
