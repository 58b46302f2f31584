import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelStatusSchema } from '../../../shared/types';
import { Lab, labUnavailableReason, nsRun, run } from '../../lab/lab';
import { buildProbe, probePath, readInNs, type ProbeReading } from '../../lab/probes/pm-probe-harness';
import { NET_ADMIN_NOTE } from './status';

const sysctlN = async (ns: string, name: string): Promise<string> =>
  (await nsRun(ns, 'sysctl', ['-n', name])).stdout.replace(/\n$/, '');

describe.skipIf(labUnavailableReason() !== null)('kernel status inside a lab namespace', () => {
  let lab: Lab;
  beforeAll(async () => {
    await buildProbe();
    lab = await Lab.create({ paths: 1, mptcp: 'none' });
    // Per-netns values that differ from the defaults, so reading the host's by mistake fails.
    await nsRun(lab.client, 'sysctl', [
      '-q',
      '-w',
      'net.mptcp.checksum_enabled=1',
      'net.mptcp.path_manager=userspace',
      'net.mptcp.add_addr_timeout=17',
      'net.ipv4.tcp_rmem=4096 65536 7340032',
      'net.ipv4.tcp_congestion_control=reno',
    ]);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('lists every net.mptcp entry with the value sysctl -n prints and its mode-based writability', async () => {
    const r = await readInNs(lab.client);
    const s = KernelStatusSchema.parse(r.status);
    const { stdout } = await nsRun(lab.client, 'ls', ['/proc/sys/net/mptcp']);
    const names = stdout.split('\n').filter((n) => n !== '');
    expect(s.mptcpSysctls.map((e) => e.name)).toEqual(names.sort().map((n) => `net.mptcp.${n}`));
    for (const e of s.mptcpSysctls) {
      expect(e.value, e.name).toBe(await sysctlN(lab.client, e.name));
      const mode = (
        await nsRun(lab.client, 'stat', ['-c', '%a', `/proc/sys/net/mptcp/${e.name.slice(10)}`])
      ).stdout.trim();
      expect(e.writable, e.name).toBe(/[2367]/.test(mode));
    }
    expect(s.mptcpSysctls.find((e) => e.name === 'net.mptcp.available_path_managers')?.writable).toBe(false);
  });

  it('reports the namespace values: path manager, scheduler, congestion control, buffers', async () => {
    const s: ProbeReading['status'] = (await readInNs(lab.client)).status;
    const ns = lab.client;
    expect(s.netns).toBe(ns);
    expect(s.kernelRelease).toBe((await run('uname', ['-r'])).stdout.trim());
    expect(s.mptcpSupported).toBe(true);
    expect(s.enabled).toBe((await sysctlN(ns, 'net.mptcp.enabled')) === '1');
    expect(s.pathManager).toBe('userspace');
    expect(s.availablePathManagers.join(' ')).toBe(await sysctlN(ns, 'net.mptcp.available_path_managers'));
    expect(s.scheduler).toBe(await sysctlN(ns, 'net.mptcp.scheduler'));
    expect(s.availableSchedulers.join(' ')).toBe(await sysctlN(ns, 'net.mptcp.available_schedulers'));
    expect(s.mptcpSysctls.find((e) => e.name === 'net.mptcp.checksum_enabled')?.value).toBe('1');
    expect(s.mptcpSysctls.find((e) => e.name === 'net.mptcp.add_addr_timeout')?.value).toBe('17');
    expect(s.congestionControl.default).toBe('reno');
    expect(s.congestionControl.available.join(' ')).toBe(
      await sysctlN(ns, 'net.ipv4.tcp_available_congestion_control'),
    );
    expect(s.congestionControl.allowed.join(' ')).toBe(
      await sysctlN(ns, 'net.ipv4.tcp_allowed_congestion_control'),
    );
    expect(s.buffers.tcpRmem).toEqual({ minBytes: 4096, defaultBytes: 65536, maxBytes: 7340032 });
    const wmem = (await sysctlN(ns, 'net.ipv4.tcp_wmem')).split(/\s+/).map(Number);
    expect(s.buffers.tcpWmem).toEqual({ minBytes: wmem[0], defaultBytes: wmem[1], maxBytes: wmem[2] });
    expect(s.buffers.rmemMaxBytes).toBe(Number(await sysctlN(ns, 'net.core.rmem_max')));
    expect(s.buffers.wmemMaxBytes).toBe(Number(await sysctlN(ns, 'net.core.wmem_max')));
    expect(s.privileges).toEqual({ netAdmin: true, note: null });
  });

  it('the other namespace keeps its defaults', async () => {
    const s = (await readInNs(lab.server)).status;
    expect(s.pathManager).toBe('kernel');
    expect(s.mptcpSysctls.find((e) => e.name === 'net.mptcp.checksum_enabled')?.value).toBe('0');
  });

  it('without CAP_NET_ADMIN: netAdmin false, the note, and nothing writable', async () => {
    const { stdout } = await nsRun(lab.client, 'setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      process.execPath,
      probePath,
      'read',
    ]);
    const r = JSON.parse(stdout) as ProbeReading;
    expect(r.status.privileges).toEqual({ netAdmin: false, note: NET_ADMIN_NOTE });
    expect(r.status.mptcpSysctls.length).toBeGreaterThan(0);
    expect(r.status.mptcpSysctls.filter((e) => e.writable)).toEqual([]);
    // The reads themselves work unprivileged on 6.18 (docs/kernel-interfaces.md, "Privileges").
    expect(r.limits).toEqual({ subflows: 2, addAddrAccepted: 0 });
  });
});
