/**
 * The uapi field tables (uapi-structs.ts) against the running kernel's own description of its
 * structs: its BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF), read with the engine's BTF
 * reader (cc/btf.ts). Every field's offset, size and bitfield position, every member the tables'
 * lengths cover, and the enum constants engine/diag sends and reads. uapi-structs.test.ts shows
 * that this check fails on a table with one field wrong; the last case here shows it on the
 * kernel's BTF too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { btfEnumValues, parseBtf } from '../cc/btf';
import { kernelLayout, uapiEnumMismatches, uapiStructMismatches } from '../../testing/uapi-layout';
import { INET_DIAG_MSG_LEN, INET_DIAG_REQ_V2_LEN } from '../uapi/sock-diag';
import { NLA_HDRLEN, NLMSG_HDRLEN } from '../uapi/netlink';
import {
  INET_DIAG_MSG,
  INET_DIAG_REQ_V2,
  MPTCP_INFO,
  NLATTR,
  NLMSGHDR,
  TCP_INFO,
  UAPI_ENUM_VALUES,
  UAPI_STATE_MASKS,
  UAPI_STRUCTS,
} from './uapi-structs';

const VMLINUX = '/sys/kernel/btf/vmlinux';

describe.skipIf(!existsSync(VMLINUX))("the uapi tables against the running kernel's BTF", () => {
  const btf = parseBtf(readFileSync(VMLINUX));

  for (const s of UAPI_STRUCTS) {
    it(`struct ${s.name}: every field at the kernel's offset, with its size and bit position`, () => {
      expect(uapiStructMismatches(btf, s)).toEqual([]);
    });
  }

  it('tcp_info and mptcp_info are the 6.18 sizes or longer, and the bitfields are where the table says', () => {
    const tcp = kernelLayout(btf, 'tcp_info')!;
    expect(tcp.size).toBeGreaterThanOrEqual(TCP_INFO.size);
    expect(kernelLayout(btf, 'mptcp_info')!.size).toBeGreaterThanOrEqual(MPTCP_INFO.size);
    for (const name of [
      'tcpi_snd_wscale',
      'tcpi_rcv_wscale',
      'tcpi_delivery_rate_app_limited',
      'tcpi_fastopen_client_fail',
    ] as const) {
      const f = TCP_INFO.fields[name];
      expect(tcp.fields.get(name), name).toMatchObject({ bitOffset: f.bitOffset, bitSize: f.bitSize });
    }
  });

  it('the enum constants (attribute types, bytecode ops, IPPROTO_*, TCP states) and TCPF_* masks', () => {
    expect(uapiEnumMismatches(btf, UAPI_ENUM_VALUES)).toEqual([]);
    const kernel = btfEnumValues(btf);
    for (const [state, mask] of Object.entries(UAPI_STATE_MASKS))
      expect(1 << kernel.get(state)!, state).toBe(mask);
  });

  it("../uapi's struct lengths are the tables' sizes", () => {
    expect(INET_DIAG_MSG_LEN).toBe(INET_DIAG_MSG.size);
    expect(INET_DIAG_REQ_V2_LEN).toBe(INET_DIAG_REQ_V2.size);
    expect(NLMSG_HDRLEN).toBe(NLMSGHDR.size);
    expect(NLA_HDRLEN).toBe(NLATTR.size);
  });

  it('fails on a copy of the tcp_info table with one offset wrong', () => {
    const wrong = {
      ...TCP_INFO,
      list: TCP_INFO.list.map((f) => (f.name === 'tcpi_rtt' ? { ...f, offset: 72, bitOffset: 72 * 8 } : f)),
    };
    expect(uapiStructMismatches(btf, wrong)).toEqual([
      'struct tcp_info.tcpi_rtt is at bit 544 (byte 68), the table says bit 576 (byte 72)',
    ]);
  });
});
