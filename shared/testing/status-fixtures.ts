/**
 * The status fixtures every test shares: what the engine reports about the kernel (KernelStatus),
 * the coupled congestion controls (CcStatus) and its path manager (PmStatus), for a two-path
 * client on 6.18. Never imported by the app. Each builder takes overrides, so a test states only
 * the fields it is about.
 */
import type { CcStatus } from '../cc';
import type { PmStatus } from '../pm';
import type { KernelStatus } from '../types';

/** MPTCP on, the in-kernel path manager, root in the host's namespace, Debian's default buffers. */
export function kernelStatus(overrides: Partial<KernelStatus> = {}): KernelStatus {
  return {
    netns: null,
    kernelRelease: '6.18.2-mptcp',
    inInitNetns: true,
    mptcpSupported: true,
    enabled: true,
    pathManager: 'kernel',
    availablePathManagers: ['kernel', 'userspace'],
    scheduler: 'default',
    availableSchedulers: ['default', 'bpf_burst'],
    congestionControl: { default: 'cubic', available: ['reno', 'cubic', 'bbr'], allowed: ['reno', 'cubic'] },
    buffers: {
      tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 6291456 },
      tcpWmem: { minBytes: 4096, defaultBytes: 16384, maxBytes: 4194304 },
      rmemMaxBytes: 212992,
      wmemMaxBytes: 212992,
    },
    readOnlySysctls: [],
    mptcpSysctls: [
      { name: 'net.mptcp.enabled', value: '1', writable: true },
      { name: 'net.mptcp.scheduler', value: 'default', writable: true },
      { name: 'net.mptcp.available_schedulers', value: 'default bpf_burst', writable: false },
    ],
    privileges: { netAdmin: true, note: null },
    ...overrides,
  };
}

/** No buffer sysctl readable (a failed read, or a test that is not about buffers). */
export const unreadBuffers: KernelStatus['buffers'] = {
  tcpRmem: null,
  tcpWmem: null,
  rmemMaxBytes: null,
  wmemMaxBytes: null,
};

/** A coupled CC entry as the engine lists it (LIA, loadable, not registered, unless overridden). */
export function ccStatus(overrides: Partial<CcStatus> = {}): CcStatus {
  return {
    id: 'mptcp_lia',
    kernelName: 'mptcp_lia',
    title: 'LIA: Linked Increases Algorithm',
    reference: 'RFC 6356',
    available: true,
    registered: false,
    bpfRegistered: false,
    blocker: null,
    reason: null,
    isNamespaceDefault: false,
    inUseBySubflows: 0,
    unloadBlockedReason: null,
    objectPath: '/usr/lib/mptcp-studio/bpf/mptcp_lia.bpf.o',
    missingKfuncs: [],
    ...overrides,
  };
}

/** OLIA, loadable and not registered unless overridden. */
export function oliaStatus(overrides: Partial<CcStatus> = {}): CcStatus {
  return ccStatus({
    id: 'mptcp_olia',
    kernelName: 'mptcp_olia',
    title: 'OLIA: Opportunistic Linked Increases Algorithm',
    reference: 'draft-khalili-mptcp-congestion-control, IEEE/ACM ToN 2013',
    objectPath: '/usr/lib/mptcp-studio/bpf/mptcp_olia.bpf.o',
    ...overrides,
  });
}

/** The engine not running as path manager: the kernel's own, nothing detected, nothing done. */
export function pmStatus(overrides: Partial<PmStatus> = {}): PmStatus {
  return {
    running: false,
    mode: null,
    role: null,
    manager: null,
    subflows: null,
    startedAtMs: null,
    pathManager: 'kernel',
    previousPathManager: null,
    recovered: false,
    connections: 0,
    leftOut: [],
    warnings: [],
    detected: { mptcpd: false, networkManager: false },
    orphan: null,
    recentActions: [],
    ...overrides,
  };
}

/** LIA and Balia loadable, OLIA blocked by a missing kfunc. */
export function ccList(): CcStatus[] {
  return [
    ccStatus(),
    oliaStatus({
      available: false,
      blocker: 'missing-kfuncs',
      reason: 'this kernel lacks kernel functions the program calls: bpf_rdonly_cast',
      missingKfuncs: ['bpf_rdonly_cast'],
    }),
    ccStatus({
      id: 'mptcp_balia',
      kernelName: 'mptcp_balia',
      title: 'Balia: Balanced Linked Adaptation',
      reference: 'draft-walid-mptcp-congestion-control, IEEE/ACM ToN 2016',
      objectPath: '/usr/lib/mptcp-studio/bpf/mptcp_balia.bpf.o',
    }),
  ];
}
