/**
 * Reading cc_repairs through bpftool's JSON (bpftool v7.1 shapes: `struct_ops dump` members as
 * "<prototype> <prog>/prog_id:<id>", `prog show` map_ids, `map dump` of a .bss with BTF as
 * `formatted.value[".bss"]`). The real kernel path: cc.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Exec } from './bpftool';
import { readCcRepairCount } from './repairs';

function fakeBpftool(opts: { repairs?: unknown; bssName?: string; denied?: boolean } = {}) {
  const calls: string[] = [];
  const ok = (v: unknown) => Promise.resolve({ code: 0, stdout: JSON.stringify(v), stderr: '' });
  const exec: Exec = (_file, args) => {
    const a = args.slice(1).join(' ');
    calls.push(a);
    if (opts.denied)
      return Promise.resolve({ code: 255, stdout: '', stderr: 'Error: Operation not permitted\n' });
    if (a === 'struct_ops dump name mptcp_lia_t1') {
      return ok([
        { bpf_map_info: { type: 26, id: 40, name: 'mptcp_lia_t1' } },
        {
          bpf_struct_ops_tcp_congestion_ops: {
            name: 'mptcp_lia_t1',
            ssthresh: 'u32 (struct sock *) lia_ssthresh/prog_id:301',
            cong_avoid: 'void (struct sock *, u32, u32) lia_cong_avoid/prog_id:302',
            init: 'void (struct sock *) lia_init/prog_id:303',
          },
        },
      ]);
    }
    if (a === 'prog show id 301' || a === 'prog show id 303') return ok({ id: 301, map_ids: [41] });
    if (a === 'prog show id 302') return ok({ id: 302, map_ids: [41, 42] });
    if (a === 'map show id 41') return ok({ id: 41, name: 'mptcp_li.rodata' });
    if (a === 'map show id 42') return ok({ id: 42, name: opts.bssName ?? 'mptcp_li.bss' });
    if (a === 'map dump id 42') {
      return ok([
        { key: ['0x00'], value: [], formatted: { value: { '.bss': [{ cc_repairs: opts.repairs ?? 19 }] } } },
      ]);
    }
    return Promise.resolve({ code: 255, stdout: '', stderr: `Error: unexpected ${a}\n` });
  };
  return { exec, calls };
}

describe('readCcRepairCount', () => {
  it('walks struct_ops → programs → maps to the .bss and reads cc_repairs', async () => {
    const { exec, calls } = fakeBpftool();
    expect(await readCcRepairCount(exec, '/usr/sbin/bpftool', 'mptcp_lia_t1')).toBe(19);
    expect(calls).toContain('map dump id 42');
    // Read only: nothing but show and dump.
    expect(calls.every((c) => /^(struct_ops dump|prog show|map show|map dump) /.test(c))).toBe(true);
  });

  it('fails with the reason: no .bss, no counter, a negative value, no permission', async () => {
    await expect(
      readCcRepairCount(fakeBpftool({ bssName: 'x.data' }).exec, 'b', 'mptcp_lia_t1'),
    ).rejects.toThrow(/none of its programs uses a \.bss map/);
    await expect(
      readCcRepairCount(fakeBpftool({ repairs: 'many' }).exec, 'b', 'mptcp_lia_t1'),
    ).rejects.toThrow(/no cc_repairs in its \.bss \(map 42\)/);
    await expect(readCcRepairCount(fakeBpftool({ repairs: -1 }).exec, 'b', 'mptcp_lia_t1')).rejects.toThrow(
      /no cc_repairs/,
    );
    await expect(readCcRepairCount(fakeBpftool({ denied: true }).exec, 'b', 'mptcp_lia_t1')).rejects.toThrow(
      /Operation not permitted/,
    );
    await expect(readCcRepairCount(fakeBpftool().exec, 'b', 'mptcp_olia_t1')).rejects.toThrow(/unexpected/);
  });
});
