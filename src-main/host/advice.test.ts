import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KernelHandlers } from '../../shared/contract';
import type { ConnectionsSnapshot, KernelStatus, Overview } from '../../shared/types';
import { emptySnapshot, fakeBackend, sampleStatus, stoppedPmStatus } from '../testing/fake-backend';
import { detectManagers } from '../engine/managers';
import { adviceHandlers } from './advice';

let root: string;
let procRoot: string;
let netnsDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'advice-test-'));
  procRoot = join(root, 'proc');
  netnsDir = join(root, 'netns');
  await mkdir(join(procRoot, 'self', 'ns'), { recursive: true });
  await mkdir(netnsDir);
  // Stand-ins for namespace files: what matters is their inode, as with the real nsfs links.
  await writeFile(join(procRoot, 'self', 'ns', 'net'), 'host netns');
  await writeFile(join(netnsDir, 'lab'), 'lab netns');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fake /proc/PID with its comm and, optionally, its netns file hard-linked to `netnsFile`. */
async function proc(pid: number, comm: string, netnsFile?: string): Promise<void> {
  const dir = join(procRoot, String(pid));
  await mkdir(join(dir, 'ns'), { recursive: true });
  await writeFile(join(dir, 'comm'), `${comm}\n`);
  if (netnsFile) await link(netnsFile, join(dir, 'ns', 'net'));
}

const hostStatus: KernelStatus = { ...sampleStatus, netns: null };

function overviewWith(status: KernelStatus): Overview {
  return {
    status,
    limits: { subflows: 2, addAddrAccepted: 2 },
    endpoints: [],
    interfaces: [],
    errors: [],
  };
}

function kernel(overrides: Partial<KernelHandlers>): KernelHandlers {
  return fakeBackend(overrides).handlers;
}

const mbit = (n: number) => (n * 1e6) / 8;

/** One connection whose 20 + 5 Mbit/s paths at RTT 50/200 ms need 1.25 MB of buffer. */
function busySnapshot(): ConnectionsSnapshot {
  const sub = {
    family: 'inet' as const,
    state: 'ESTABLISHED' as const,
    localAddress: '10.0.0.2',
    localPort: 40000,
    remoteAddress: '192.0.2.1',
    remotePort: 443,
    ifindex: 0,
    tokenLocal: 7,
    tokenRemote: 0,
    localId: 0,
    remoteId: 0,
    flags: {
      mcapRem: true,
      mcapLoc: true,
      joinRem: false,
      joinLoc: false,
      backupRem: false,
      backupLoc: false,
      fullyEstablished: true,
      connected: true,
      mapValid: true,
    },
    rawFlags: 0,
    backup: false,
    congestionControl: 'cubic',
    rttUs: 50_000,
    rttVarUs: 1_000,
    minRttUs: 45_000,
    cwndPkts: 10,
    ssthreshPkts: null,
    mssBytes: 1448,
    pmtuBytes: 1500,
    rtoUs: 250_000,
    unackedPkts: 0,
    lostPkts: 0,
    totalRetransPkts: 0,
    bytesAcked: 1,
    bytesReceived: 1,
    bytesSent: 1,
    bytesRetrans: 0,
    deliveryRateBytesPerSec: mbit(20),
    pacingRateBytesPerSec: null,
    ifname: null,
    backoffCount: 0,
    probesCount: 0,
    deliveryRateAppLimited: false,
    lastDataSentAtMs: null,
    lastDataRecvAtMs: null,
    lastAckRecvAtMs: null,
  };
  return {
    ...emptySnapshot,
    connections: [
      {
        token: 7,
        family: 'inet',
        state: 'ESTABLISHED',
        localAddress: '10.0.0.2',
        localPort: 40000,
        remoteAddress: '192.0.2.1',
        remotePort: 443,
        inode: 1,
        subflowsTotal: 2,
        fallback: false,
        remoteKeyReceived: true,
        addAddrSignal: 0,
        addAddrAccepted: 0,
        subflowsMax: 2,
        checksumEnabled: false,
        retransmits: 0,
        bytesSent: 5_000_000,
        bytesReceived: 10,
        bytesAcked: 5_000_000,
        bytesRetrans: 0,
        subflows: [
          sub,
          {
            ...sub,
            localAddress: '10.0.1.2',
            localPort: 40001,
            rttUs: 200_000,
            deliveryRateBytesPerSec: mbit(5),
          },
        ],
      },
    ],
  };
}

describe('adviceHandlers', () => {
  it('reads overview and connections through the kernel handlers and advises on them', async () => {
    const status: KernelStatus = {
      ...hostStatus,
      buffers: {
        ...hostStatus.buffers,
        tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 1048576 },
      },
    };
    const backend = fakeBackend({
      'mptcp:overview:get': () => Promise.resolve(overviewWith(status)),
      'mptcp:connections:list': () => Promise.resolve(busySnapshot()),
    });
    const h = adviceHandlers({ kernel: backend.handlers }, { procRoot, netnsDir });
    const advice = await h['mptcp:advice:get']({});
    expect(advice.map((a) => a.id)).toEqual(['buffers-too-small']);
    expect(advice[0]?.detail).toContain('1250000 bytes');
    expect(backend.calls).toEqual(['mptcp:overview:get', 'mptcp:connections:list', 'mptcp:pm:status']);
  });

  it('advises with connections null when the connections read fails', async () => {
    const h = adviceHandlers(
      {
        kernel: kernel({
          'mptcp:overview:get': () => Promise.resolve(overviewWith({ ...hostStatus, enabled: false })),
          'mptcp:connections:list': () => Promise.reject(new Error('sock_diag: EPERM')),
        }),
      },
      { procRoot, netnsDir },
    );
    const advice = await h['mptcp:advice:get']({});
    expect(advice.map((a) => a.id)).toEqual(['mptcp-disabled']);
  });

  it('propagates an overview failure (nothing to advise on)', async () => {
    const h = adviceHandlers(
      { kernel: kernel({ 'mptcp:overview:get': () => Promise.reject(new Error('engine gone')) }) },
      { procRoot, netnsDir },
    );
    await expect(h['mptcp:advice:get']({})).rejects.toThrow('engine gone');
  });

  it('reports NetworkManager found in /proc, and warns about userspace PM without mptcpd', async () => {
    await proc(1, 'systemd');
    await proc(612, 'NetworkManager', join(procRoot, 'self', 'ns', 'net'));
    const h = adviceHandlers(
      {
        kernel: kernel({
          'mptcp:overview:get': () =>
            Promise.resolve(overviewWith({ ...hostStatus, pathManager: 'userspace' })),
          'mptcp:connections:list': () => Promise.resolve(emptySnapshot),
        }),
      },
      { procRoot, netnsDir },
    );
    const ids = (await h['mptcp:advice:get']({})).map((a) => a.id);
    expect(ids).toEqual(['userspace-pm-without-daemon', 'other-endpoint-managers']);
  });

  it("does not warn about userspace PM without a daemon while MPTCP Studio's own PM runs", async () => {
    const h = adviceHandlers(
      {
        kernel: kernel({
          'mptcp:overview:get': () =>
            Promise.resolve(overviewWith({ ...hostStatus, pathManager: 'userspace' })),
          'mptcp:connections:list': () => Promise.resolve(emptySnapshot),
          'mptcp:pm:status': () =>
            Promise.resolve({ ...stoppedPmStatus, running: true, mode: 'fullmesh', manager: 'userspace' }),
        }),
      },
      { procRoot, netnsDir },
    );
    const ids = (await h['mptcp:advice:get']({})).map((a) => a.id);
    expect(ids).not.toContain('userspace-pm-without-daemon');
  });
});

describe('detectManagers', () => {
  it('finds mptcpd and NetworkManager by comm in our own namespace', async () => {
    await proc(1, 'systemd');
    await proc(700, 'mptcpd', join(procRoot, 'self', 'ns', 'net'));
    // Another user's process: ns/net unreadable, counted because we look at our own netns.
    await proc(612, 'NetworkManager');
    await mkdir(join(procRoot, 'sys'));
    expect(await detectManagers(procRoot, netnsDir, null)).toEqual({ mptcpd: true, networkManager: true });
  });

  it('finds nothing when neither runs, or when /proc cannot be read', async () => {
    await proc(1, 'systemd');
    await proc(2, 'mptcpd-helper');
    expect(await detectManagers(procRoot, netnsDir, null)).toEqual({ mptcpd: false, networkManager: false });
    expect(await detectManagers(join(root, 'missing'), netnsDir, null)).toEqual({
      mptcpd: false,
      networkManager: false,
    });
  });

  it('in a lab namespace, counts only managers whose netns is that namespace', async () => {
    await proc(612, 'NetworkManager', join(procRoot, 'self', 'ns', 'net')); // host's netns
    await proc(900, 'mptcpd', join(netnsDir, 'lab'));
    expect(await detectManagers(procRoot, netnsDir, 'lab')).toEqual({ mptcpd: true, networkManager: false });
  });

  it('in a lab namespace, does not count a manager whose netns is unknown', async () => {
    await proc(612, 'NetworkManager');
    expect(await detectManagers(procRoot, netnsDir, 'lab')).toEqual({ mptcpd: false, networkManager: false });
  });
});
