import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelStatusSchema } from '../../../shared/types';
import { hasCapability, NET_ADMIN_NOTE, parseTriplet, readKernelStatus } from './status';

/** A fake /proc tree; each value is written with a trailing newline as procfs does. */
function procTree(files: Record<string, string>, readOnly: string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'mpst-proc-'));
  roots.push(root);
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${text}\n`);
    chmodSync(path, readOnly.includes(rel) ? 0o444 : 0o644);
  }
  return root;
}
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

const statusWith = (capEff: string): string =>
  `Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\n`;

/** The 6.18 layout (values as on this host). */
const linux618: Record<string, string> = {
  'sys/net/mptcp/enabled': '1',
  'sys/net/mptcp/add_addr_timeout': '120',
  'sys/net/mptcp/available_path_managers': 'kernel userspace',
  'sys/net/mptcp/available_schedulers': 'default',
  'sys/net/mptcp/path_manager': 'kernel',
  'sys/net/mptcp/pm_type': '0',
  'sys/net/mptcp/scheduler': 'default',
  'sys/net/mptcp/stale_loss_cnt': '4',
  // An entry from a newer kernel: listed because the directory is read, not a fixed list.
  'sys/net/mptcp/add_addr_v6_port_drop_ts': '7',
  'sys/net/ipv4/tcp_congestion_control': 'bbr',
  'sys/net/ipv4/tcp_available_congestion_control': 'reno bbr cubic',
  'sys/net/ipv4/tcp_allowed_congestion_control': 'reno bbr',
  'sys/net/ipv4/tcp_rmem': '4096\t131072\t33554432',
  'sys/net/ipv4/tcp_wmem': '4096\t16384\t4194304',
  'sys/net/core/rmem_max': '4194304',
  'sys/net/core/wmem_max': '4194304',
  'self/status': statusWith('000001ffffffffff'),
};

describe('readKernelStatus', () => {
  it('reads the 6.18 layout', async () => {
    const proc = procTree(linux618, [
      'sys/net/mptcp/available_path_managers',
      'sys/net/mptcp/available_schedulers',
      'sys/net/core/rmem_max',
    ]);
    const s = KernelStatusSchema.parse(await readKernelStatus({ netns: 'lab-cli', procRoot: proc }));
    expect(s.netns).toBe('lab-cli');
    expect(s.kernelRelease).toBe(release());
    expect(s.mptcpSupported).toBe(true);
    expect(s.enabled).toBe(true);
    expect(s.pathManager).toBe('kernel');
    expect(s.availablePathManagers).toEqual(['kernel', 'userspace']);
    expect(s.scheduler).toBe('default');
    expect(s.availableSchedulers).toEqual(['default']);
    expect(s.congestionControl).toEqual({
      default: 'bbr',
      available: ['reno', 'bbr', 'cubic'],
      allowed: ['reno', 'bbr'],
    });
    expect(s.buffers).toEqual({
      tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 33554432 },
      tcpWmem: { minBytes: 4096, defaultBytes: 16384, maxBytes: 4194304 },
      rmemMaxBytes: 4194304,
      wmemMaxBytes: 4194304,
    });
    expect(s.mptcpSysctls.map((e) => e.name)).toEqual([
      'net.mptcp.add_addr_timeout',
      'net.mptcp.add_addr_v6_port_drop_ts',
      'net.mptcp.available_path_managers',
      'net.mptcp.available_schedulers',
      'net.mptcp.enabled',
      'net.mptcp.path_manager',
      'net.mptcp.pm_type',
      'net.mptcp.scheduler',
      'net.mptcp.stale_loss_cnt',
    ]);
    const entry = (n: string) => s.mptcpSysctls.find((e) => e.name === `net.mptcp.${n}`);
    // Mode 0444 is read-only even for root (procfs checks the mode bits for root too).
    expect(entry('available_path_managers')).toEqual({
      name: 'net.mptcp.available_path_managers',
      value: 'kernel userspace',
      writable: false,
    });
    expect(entry('add_addr_timeout')).toEqual({
      name: 'net.mptcp.add_addr_timeout',
      value: '120',
      writable: true,
    });
    expect(s.privileges).toEqual({ netAdmin: true, note: null });
  });

  it('derives the path manager from pm_type on kernels before 6.15', async () => {
    const old = Object.fromEntries(Object.entries(linux618).filter(([k]) => !/path_manager/.test(k)));
    const s = await readKernelStatus({
      netns: null,
      procRoot: procTree({ ...old, 'sys/net/mptcp/pm_type': '1' }),
    });
    expect(s.pathManager).toBe('userspace');
    expect(s.availablePathManagers).toEqual(['kernel', 'userspace']);
  });

  it('a kernel without MPTCP: not supported, nulls and empty lists, no exception', async () => {
    const proc = procTree({
      'self/status': statusWith('0000000000000000'),
      'sys/net/ipv4/tcp_rmem': 'garbage',
    });
    const s = KernelStatusSchema.parse(await readKernelStatus({ netns: null, procRoot: proc }));
    expect(s).toMatchObject({
      mptcpSupported: false,
      enabled: false,
      pathManager: null,
      availablePathManagers: [],
      scheduler: null,
      availableSchedulers: [],
      congestionControl: { default: null, available: [], allowed: [] },
      buffers: { tcpRmem: null, tcpWmem: null, rmemMaxBytes: null, wmemMaxBytes: null },
      mptcpSysctls: [],
    });
    expect(s.privileges).toEqual({ netAdmin: false, note: NET_ADMIN_NOTE });
  });

  it('a missing proc root is not an error either', async () => {
    const s = await readKernelStatus({ netns: null, procRoot: join(tmpdir(), 'mpst-does-not-exist') });
    expect(s.mptcpSupported).toBe(false);
    expect(s.privileges.netAdmin).toBe(false);
  });
});

describe('helpers', () => {
  it('CAP_NET_ADMIN is bit 12 of CapEff', () => {
    expect(hasCapability(statusWith('0000000000001000'), 12)).toBe(true);
    expect(hasCapability(statusWith('000001fffeffefff'), 12)).toBe(false);
    expect(hasCapability(statusWith('000001ffffffffff'), 12)).toBe(true);
    expect(hasCapability('Name:\tx\n', 12)).toBe(false);
    expect(hasCapability(null, 12)).toBe(false);
  });

  it('parses buffer triplets strictly', () => {
    expect(parseTriplet('4096 87380 6291456')).toEqual({
      minBytes: 4096,
      defaultBytes: 87380,
      maxBytes: 6291456,
    });
    expect(parseTriplet('4096 87380')).toBeNull();
    expect(parseTriplet('4096 -1 5')).toBeNull();
    expect(parseTriplet(null)).toBeNull();
  });
});
