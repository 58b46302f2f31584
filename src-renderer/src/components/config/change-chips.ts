/**
 * The Configure page's list of pending changes, named like the sysctl or `ip` command each one
 * changes (what a network engineer types), not like the profile's JSON keys. The key path stays
 * available as the chip's title, for matching against a profile file.
 */
import type { MptcpConfig } from '../../../../shared/config';
import { sysctlKeys } from '../../../../shared/plan';

export interface ChangeChip {
  /** `net.mptcp.scheduler`, `ip mptcp limits subflows`, `ip link set dev eth1 mtu`. */
  label: string;
  /** The desired config's key path: `scheduler`, `limits.subflows`, `mtu.eth1`. */
  key: string;
}

const TOP_LEVEL: Record<string, string> = {
  enabled: 'net.mptcp.enabled',
  pathManager: 'net.mptcp.path_manager',
  scheduler: 'net.mptcp.scheduler',
  congestionControl: 'net.ipv4.tcp_congestion_control',
  endpoints: 'ip mptcp endpoint',
  endpointPolicy: 'ip mptcp endpoint (per-interface rules)',
  sourceRules: 'ip rule from ADDR + ip route table',
  sourcePolicy: 'ip rule from ADDR (per-interface rules)',
};

const BUFFERS: Record<string, string> = {
  tcpRmem: 'net.ipv4.tcp_rmem',
  tcpWmem: 'net.ipv4.tcp_wmem',
  rmemMaxBytes: 'net.core.rmem_max',
  wmemMaxBytes: 'net.core.wmem_max',
};

const LIMITS = { subflows: 'subflows', addAddrAccepted: 'add_addr_accepted' } as const;

/**
 * One chip per changed knob. `base` (the kernel's export) narrows the limits to the one that
 * changed: the desired config always carries both (`ip mptcp limits set` sets both).
 */
export function changeChips(config: MptcpConfig, base?: MptcpConfig | null): ChangeChip[] {
  const out: ChangeChip[] = [];
  for (const [key, value] of Object.entries(config) as [string, unknown][]) {
    if (value === undefined) continue;
    if (key === 'limits' && config.limits) {
      const was = base?.limits;
      for (const k of ['subflows', 'addAddrAccepted'] as const) {
        if (was && was[k] === config.limits[k]) continue;
        out.push({ label: `ip mptcp limits ${LIMITS[k]}`, key: `limits.${k}` });
      }
    } else if (key === 'sysctls') {
      for (const sub of Object.keys(value as object)) {
        out.push({
          label: sysctlKeys[sub as keyof typeof sysctlKeys] ?? `net.mptcp.${sub}`,
          key: `sysctls.${sub}`,
        });
      }
    } else if (key === 'buffers') {
      for (const sub of Object.keys(value as object)) {
        out.push({ label: BUFFERS[sub] ?? sub, key: `buffers.${sub}` });
      }
    } else if (key === 'mtu') {
      for (const ifname of Object.keys(value as object)) {
        out.push({ label: `ip link set dev ${ifname} mtu`, key: `mtu.${ifname}` });
      }
    } else if (key === 'rpFilter') {
      for (const ifname of Object.keys(value as object)) {
        out.push({ label: `net.ipv4.conf.${ifname}.rp_filter`, key: `rpFilter.${ifname}` });
      }
    } else {
      out.push({ label: TOP_LEVEL[key] ?? key, key });
    }
  }
  return out;
}
