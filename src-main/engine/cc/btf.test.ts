import { describe, expect, it } from 'vitest';
import { BtfBuilder, ccObject, elfObject, kernelBtf } from '../../testing/btf-builder';
import { BtfError, elfSection, kernelFacts, missingKfuncs, objectFacts, parseBtf } from './btf';

describe('BTF reader', () => {
  it('finds struct_ops support and bpf_kfunc-tagged functions in a kernel BTF', () => {
    const k = kernelFacts(
      parseBtf(kernelBtf({ kfuncs: ['tcp_slow_start', 'bpf_rdonly_cast'], untagged: ['tcp_cong_avoid_ai'] })),
    );
    expect(k.tcpCongStructOps).toBe(true);
    expect([...k.taggedKfuncs].sort()).toEqual(['bpf_rdonly_cast', 'tcp_slow_start']);
    expect(k.funcs.has('tcp_cong_avoid_ai')).toBe(true);
    // Tagged kernels: a plain FUNC is not a kfunc.
    expect(missingKfuncs(k, ['tcp_slow_start', 'tcp_cong_avoid_ai'])).toEqual(['tcp_cong_avoid_ai']);
  });

  it('falls back to every FUNC on kernels whose BTF has no bpf_kfunc tags', () => {
    const k = kernelFacts(parseBtf(kernelBtf({ kfuncs: [], untagged: ['tcp_slow_start'] })));
    expect(missingKfuncs(k, ['tcp_slow_start', 'bpf_rdonly_cast'])).toEqual(['bpf_rdonly_cast']);
  });

  it('reports a kernel without tcp_congestion_ops struct_ops', () => {
    expect(kernelFacts(parseBtf(kernelBtf({ structOps: false, kfuncs: [] }))).tcpCongStructOps).toBe(false);
  });

  it('reads an object: its extern kfuncs and its struct_ops map name', () => {
    const obj = ccObject({ structOpsName: 'mptcp_olia', externs: ['tcp_slow_start', 'bpf_rdonly_cast'] });
    const btf = elfSection(obj, '.BTF');
    expect(btf).not.toBeNull();
    const f = objectFacts(parseBtf(btf!));
    expect(f.externFuncs).toEqual(['tcp_slow_start', 'bpf_rdonly_cast']);
    expect(f.structOps).toEqual([{ name: 'mptcp_olia', structName: 'tcp_congestion_ops' }]);
  });

  it('reads .struct_ops.link sections too (libbpf 1.2+ links)', () => {
    const obj = ccObject({ structOpsName: 'mptcp_lia', externs: [], section: '.struct_ops.link' });
    expect(objectFacts(parseBtf(elfSection(obj, '.BTF')!)).structOps[0]?.name).toBe('mptcp_lia');
  });

  it('refuses what is not BTF or not an ELF object, and truncated data', () => {
    expect(() => parseBtf(Buffer.from('not btf at all, really'))).toThrow(BtfError);
    const good = new BtfBuilder();
    good.int('int');
    const bytes = good.build();
    expect(() => parseBtf(bytes.subarray(0, bytes.length - 4))).toThrow(/past the end/);
    expect(() => elfSection(Buffer.alloc(64), '.BTF')).toThrow(/not an ELF/);
    expect(elfSection(elfObject({ '.text': Buffer.alloc(4) }), '.BTF')).toBeNull();
  });
});
