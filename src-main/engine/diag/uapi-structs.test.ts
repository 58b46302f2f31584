/**
 * The uapi field tables (uapi-structs.ts) and their BTF check (src-main/testing/uapi-layout.ts),
 * without a kernel: BTF written from the tables by btf-builder.ts. The check must pass on a BTF
 * that agrees and fail on a table with any one field moved, resized or missing (the kernel's own
 * BTF is compared in uapi-structs.int.test.ts); and the decoders must read each field where its
 * table says.
 */
import { describe, expect, it } from 'vitest';
import { parseBtf } from '../cc/btf';
import { BtfBuilder } from '../../testing/btf-builder';
import { uapiEnumMismatches, uapiStructMismatches } from '../../testing/uapi-layout';
import { decodeMptcpInfo, decodeTcpInfo, SnapshotBuilder } from './decode';
import { MPTCP_INFO_READ, TCP_INFO_AGES, TCP_INFO_READ } from './poll-memory';
import {
  MPTCP_INFO,
  TCP_INFO,
  UAPI_ENUM_VALUES,
  UAPI_STRUCTS,
  wholeFieldPrefixes,
  wordsCovering,
  type UapiField,
  type UapiStruct,
} from './uapi-structs';

interface Member {
  name: string;
  type: number;
  bitOffset: number;
  bitSize?: number;
}

/**
 * A BTF holding the tables' structs as the kernel's BTF lays them out: scalars as typedef'd
 * __uN ints, arrays as BTF arrays, `outer.inner` fields as a nested struct, bitfields with their
 * widths (kind_flag; or, with `intBitfields`, as narrow INT types without it). `edit` may change a
 * struct's members before they are written (a kernel that differs from the table).
 */
function btfOf(
  structs: readonly UapiStruct[],
  opts: { intBitfields?: boolean; edit?: (s: UapiStruct, members: Member[]) => Member[] } = {},
): ReturnType<typeof parseBtf> {
  const b = new BtfBuilder();
  const idx = b.int('int');
  const u = new Map<number, number>();
  for (const n of [1, 2, 4, 8]) u.set(n, b.typedef(`__u${n * 8}`, b.int(`unsigned ${n * 8}`, n)));
  const u8 = u.get(1)!;
  const member = (f: UapiField, name: string, base: number): Member => {
    if (f.width === 'array')
      return { name, type: b.array(u8, f.size, idx), bitOffset: f.bitOffset - base * 8 };
    if (f.width === 'bits' && opts.intBitfields) {
      // Without kind_flag: the member starts at its byte, its INT type says which bits.
      const type = b.intBits('unsigned char', 1, f.bitSize, f.bitOffset % 8);
      return { name, type, bitOffset: f.offset * 8 - base * 8 };
    }
    return { name, type: u.get(f.size)!, bitOffset: f.bitOffset - base * 8, bitSize: f.bitSize };
  };
  for (const s of structs) {
    const top: Member[] = [];
    const inner = new Map<string, UapiField[]>();
    for (const f of s.list) {
      const dot = f.name.indexOf('.');
      if (dot < 0) top.push(member(f, f.name, 0));
      else inner.set(f.name.slice(0, dot), [...(inner.get(f.name.slice(0, dot)) ?? []), f]);
    }
    for (const [prefix, fields] of inner) {
      const base = fields[0]!.offset;
      const last = fields[fields.length - 1]!;
      const size = last.offset + last.size - base;
      const members = fields.map((f) => member(f, f.name.slice(prefix.length + 1), base));
      top.push({ name: prefix, type: b.structAt(`${s.name}_${prefix}`, size, members), bitOffset: base * 8 });
    }
    top.sort((x, y) => x.bitOffset - y.bitOffset);
    b.structAt(s.name, s.size, opts.edit ? opts.edit(s, top) : top);
  }
  b.enumType('', Object.entries(UAPI_ENUM_VALUES));
  return parseBtf(b.build());
}

/** A copy of `s` with field `name` changed by `change`. */
function withField(s: UapiStruct, name: string, change: (f: UapiField) => Partial<UapiField>): UapiStruct {
  return { ...s, list: s.list.map((f) => (f.name === name ? { ...f, ...change(f) } : f)) };
}

describe('the BTF check of the uapi tables', () => {
  const btf = btfOf(UAPI_STRUCTS);

  it('passes when the BTF lays the structs out as the tables do (nested structs, arrays, bitfields)', () => {
    for (const s of UAPI_STRUCTS) expect(uapiStructMismatches(btf, s), s.name).toEqual([]);
    expect(uapiEnumMismatches(btf, UAPI_ENUM_VALUES)).toEqual([]);
    // Bitfields written without kind_flag (narrow INT types) read the same.
    const plain = btfOf([TCP_INFO], { intBitfields: true });
    expect(uapiStructMismatches(plain, TCP_INFO)).toEqual([]);
  });

  it('fails when any one field of any table is one byte (a bitfield: one bit) off', () => {
    let checked = 0;
    for (const s of UAPI_STRUCTS) {
      for (const f of s.list) {
        const bit = f.width === 'bits' ? 1 : 8;
        const moved = withField(s, f.name, (g) => ({
          offset: g.offset + (bit === 8 ? 1 : 0),
          bitOffset: g.bitOffset + bit,
        }));
        const problems = uapiStructMismatches(btf, moved);
        expect(problems.join('\n'), `${s.name}.${f.name} moved`).toContain(
          `struct ${s.name}.${f.name} is at bit`,
        );
        checked++;
      }
    }
    expect(checked).toBe(UAPI_STRUCTS.reduce((n, s) => n + s.list.length, 0));
    // The one the review was about, spelled out: tcpi_snd_cwnd at 84 instead of 80.
    expect(
      uapiStructMismatches(
        btf,
        withField(TCP_INFO, 'tcpi_snd_cwnd', () => ({ offset: 84, bitOffset: 84 * 8 })),
      ),
    ).toContain('struct tcp_info.tcpi_snd_cwnd is at bit 640 (byte 80), the table says bit 672 (byte 84)');
  });

  it('fails on a wrong width, a wrong bitfield width, a field the kernel lacks and a member the table lacks', () => {
    expect(
      uapiStructMismatches(
        btf,
        withField(TCP_INFO, 'tcpi_bytes_acked', () => ({ size: 4, width: 'u32' })),
      ),
    ).toContain('struct tcp_info.tcpi_bytes_acked is 8 bytes, the table says 4');
    expect(
      uapiStructMismatches(
        btf,
        withField(TCP_INFO, 'tcpi_snd_wscale', () => ({ bitSize: 3 })),
      ),
    ).toContain('struct tcp_info.tcpi_snd_wscale is a 4-bit bitfield, the table says a 3-bit bitfield');
    expect(
      uapiStructMismatches(
        btf,
        withField(MPTCP_INFO, 'mptcpi_token', () => ({ name: 'mptcpi_tokn' })),
      ),
    ).toEqual([
      'struct mptcp_info.mptcpi_tokn is not in the BTF',
      'struct mptcp_info.mptcpi_token (bit 96) is missing from the table',
    ]);
    const older = btfOf([MPTCP_INFO], { edit: (_s, ms) => ms.filter((m) => m.bitOffset < 80 * 8) });
    expect(uapiStructMismatches(older, MPTCP_INFO)).toContain(
      'struct mptcp_info.mptcpi_subflows_total is not in the BTF',
    );
  });

  it('accepts a newer kernel whose struct has more members at its end', () => {
    const newer = btfOf([MPTCP_INFO], {
      edit: (_s, ms) => [...ms, { name: 'mptcpi_future', type: ms[ms.length - 1]!.type, bitOffset: 96 * 8 }],
    });
    expect(uapiStructMismatches(newer, MPTCP_INFO)).toEqual([]);
  });

  it('fails on an enum constant the kernel numbers otherwise, or does not have', () => {
    expect(uapiEnumMismatches(btf, { INET_DIAG_INFO: 3, NO_SUCH_CONSTANT: 1 })).toEqual([
      'INET_DIAG_INFO is 2 in the BTF, the table says 3',
      'NO_SUCH_CONSTANT is not an enumerator in the BTF',
    ]);
  });
});

describe('what the decoders derive from the tables', () => {
  it('word indices (offset / 4) of the fields a record keeps, and whole-field prefixes', () => {
    expect(wordsCovering([TCP_INFO.fields.tcpi_pacing_rate, TCP_INFO.fields.tcpi_rtt])).toEqual([17, 26, 27]);
    // Words 0 and 1: tcpi_probes, tcpi_backoff and the tcpi_delivery_rate_app_limited bit.
    expect(wordsCovering(TCP_INFO_READ)).toEqual([
      0, 1, 2, 4, 6, 8, 15, 17, 18, 19, 20, 25, 26, 27, 30, 31, 32, 33, 37, 40, 41, 50, 51, 52, 53,
    ]);
    // The ages are kept as times, not as words (poll-memory.ts TCP_INFO_AGES): words 11, 13, 14.
    expect(wordsCovering(TCP_INFO_AGES)).toEqual([11, 13, 14]);
    expect(wordsCovering(MPTCP_INFO_READ)).toEqual([0, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    const prefixes = wholeFieldPrefixes(MPTCP_INFO);
    // A 60-byte mptcp_info holds whole fields up to bytes_retrans's end (56), not half of bytes_sent.
    expect(prefixes[60]).toBe(56);
    expect(prefixes[96]).toBe(96);
  });
});

/** Subflow field ← tcp_info field, and Connection field ← mptcp_info field, as the decoders map them. */
const TCP_FIELDS: [keyof ReturnType<typeof decodeTcpInfo>, string][] = [
  ['rtoUs', 'tcpi_rto'],
  ['mssBytes', 'tcpi_snd_mss'],
  ['unackedPkts', 'tcpi_unacked'],
  ['lostPkts', 'tcpi_lost'],
  ['pmtuBytes', 'tcpi_pmtu'],
  ['rttUs', 'tcpi_rtt'],
  ['rttVarUs', 'tcpi_rttvar'],
  ['ssthreshPkts', 'tcpi_snd_ssthresh'],
  ['cwndPkts', 'tcpi_snd_cwnd'],
  ['totalRetransPkts', 'tcpi_total_retrans'],
  ['pacingRateBytesPerSec', 'tcpi_pacing_rate'],
  ['bytesAcked', 'tcpi_bytes_acked'],
  ['bytesReceived', 'tcpi_bytes_received'],
  ['minRttUs', 'tcpi_min_rtt'],
  ['deliveryRateBytesPerSec', 'tcpi_delivery_rate'],
  ['bytesSent', 'tcpi_bytes_sent'],
  ['bytesRetrans', 'tcpi_bytes_retrans'],
];

/** The u8 and bitfield members a Subflow holds (read from the words that hold them). */
const TCP_SMALL_FIELDS: [keyof ReturnType<typeof decodeTcpInfo>, string][] = [
  ['probesCount', 'tcpi_probes'],
  ['backoffCount', 'tcpi_backoff'],
  ['deliveryRateAppLimited', 'tcpi_delivery_rate_app_limited'],
];

describe('the decoders read where the tables say', () => {
  it('tcp_info: each Subflow field from its tcpi_ field, and the record keeps exactly those', () => {
    const info = Buffer.alloc(TCP_INFO.size);
    TCP_FIELDS.forEach(([, name], k) => {
      const f = TCP_INFO.fields[name as keyof typeof TCP_INFO.fields];
      if (f.width === 'u64') info.writeBigUInt64LE(BigInt(1000 + k) + (1n << 40n), f.offset);
      else info.writeUInt32LE(1000 + k, f.offset);
    });
    const t = decodeTcpInfo(info, 0, info.length);
    TCP_FIELDS.forEach(([key, name], k) => {
      const f = TCP_INFO.fields[name as keyof typeof TCP_INFO.fields];
      expect(t[key], key).toBe(f.width === 'u64' ? 1000 + k + 2 ** 40 : 1000 + k);
    });
    expect(TCP_INFO_READ.map((f) => f.name).sort()).toEqual(
      [...TCP_FIELDS.map(([, n]) => n), ...TCP_SMALL_FIELDS.map(([, n]) => n)].sort(),
    );
  });

  it('tcp_info: the u8 and one-bit fields and the ages (ms before the dump) from their tcpi_ fields', () => {
    const T = TCP_INFO.fields;
    const info = Buffer.alloc(TCP_INFO.size);
    info[T.tcpi_probes.offset] = 3;
    info[T.tcpi_backoff.offset] = 6;
    // Neighbours that must not leak in: tcpi_retransmits, tcpi_options, tcpi_rcv_wscale and the
    // fastopen bits around the app-limited bit.
    info[T.tcpi_retransmits.offset] = 0xff;
    info[T.tcpi_options.offset] = 0xff;
    info[T.tcpi_delivery_rate_app_limited.offset] = 0xfe; // every bit of the byte but this one
    info.writeUInt32LE(1500, T.tcpi_last_data_sent.offset);
    info.writeUInt32LE(25_000, T.tcpi_last_data_recv.offset);
    info.writeUInt32LE(13_312, T.tcpi_last_ack_recv.offset);
    const now = 1_800_000_000_000;
    expect(decodeTcpInfo(info, 0, info.length, now)).toMatchObject({
      probesCount: 3,
      backoffCount: 6,
      deliveryRateAppLimited: false,
      lastDataSentAtMs: now - 1500,
      lastDataRecvAtMs: now - 25_000,
      lastAckRecvAtMs: now - 13_312,
    });
    info[T.tcpi_delivery_rate_app_limited.offset] = 0x01;
    info[T.tcpi_probes.offset] = 0;
    expect(decodeTcpInfo(info, 0, info.length, now)).toMatchObject({
      probesCount: 0,
      backoffCount: 6,
      deliveryRateAppLimited: true,
    });
    // The word path (SnapshotBuilder) reads them the same way.
    const M = MPTCP_INFO.fields;
    const mi = Buffer.alloc(MPTCP_INFO.size);
    mi.writeUInt32LE(7, M.mptcpi_token.offset);
    const b = new SnapshotBuilder({ nowMs: now });
    const conn = message([attr(2, mi)]);
    b.onMptcp(conn, 0, conn.length);
    const ulp = attr(19, Buffer.concat([attr(1, Buffer.from('mptcp\0')), attr(3, attr(2, u32(7)))]));
    const sub = message([attr(2, info), ulp]);
    b.onTcp(sub, 0, sub.length);
    expect(b.connections[0]!.subflows[0]).toMatchObject({
      probesCount: 0,
      backoffCount: 6,
      deliveryRateAppLimited: true,
      lastDataSentAtMs: now - 1500,
      lastDataRecvAtMs: now - 25_000,
      lastAckRecvAtMs: now - 13_312,
    });
  });

  it('mptcp_info: token, flags, counters and subflows_total from their mptcpi_ fields', () => {
    const M = MPTCP_INFO.fields;
    const info = Buffer.alloc(MPTCP_INFO.size);
    info[M.mptcpi_subflows.offset] = 1;
    info[M.mptcpi_add_addr_signal.offset] = 2;
    info[M.mptcpi_add_addr_accepted.offset] = 3;
    info[M.mptcpi_subflows_max.offset] = 4;
    info[M.mptcpi_csum_enabled.offset] = 1;
    info[M.mptcpi_subflows_total.offset] = 5;
    info.writeUInt32LE(0x2, M.mptcpi_flags.offset);
    info.writeUInt32LE(0xabcdef01, M.mptcpi_token.offset);
    info.writeUInt32LE(6, M.mptcpi_retransmits.offset);
    info.writeBigUInt64LE(7n, M.mptcpi_bytes_retrans.offset);
    info.writeBigUInt64LE(8n, M.mptcpi_bytes_sent.offset);
    info.writeBigUInt64LE(9n, M.mptcpi_bytes_received.offset);
    info.writeBigUInt64LE(10n, M.mptcpi_bytes_acked.offset);
    expect(decodeMptcpInfo(info, 0, info.length)).toEqual({
      token: 0xabcdef01,
      subflowsTotal: 5,
      fallback: false,
      remoteKeyReceived: true,
      addAddrSignal: 2,
      addAddrAccepted: 3,
      subflowsMax: 4,
      checksumEnabled: true,
      retransmits: 6,
      bytesRetrans: 7,
      bytesSent: 8,
      bytesReceived: 9,
      bytesAcked: 10,
    });
    expect(MPTCP_INFO_READ.every((f) => f.name.startsWith('mptcpi_'))).toBe(true);
  });

  it('clamps a u64 past 2^53 (a corrupted counter) to Number.MAX_SAFE_INTEGER, on both paths', () => {
    const T = TCP_INFO.fields;
    const info = Buffer.alloc(TCP_INFO.size);
    info.writeBigUInt64LE(2n ** 64n - 2n, T.tcpi_bytes_sent.offset); // not ~0: no "unlimited" meaning
    info.writeBigUInt64LE(2n ** 53n - 1n, T.tcpi_bytes_acked.offset); // the largest exact one
    info.writeBigUInt64LE(2n ** 53n, T.tcpi_bytes_received.offset);
    info.writeBigUInt64LE(2n ** 64n - 1n, T.tcpi_pacing_rate.offset); // ~0: unlimited
    const t = decodeTcpInfo(info, 0, info.length);
    expect(t.bytesSent).toBe(Number.MAX_SAFE_INTEGER);
    expect(t.bytesAcked).toBe(Number.MAX_SAFE_INTEGER);
    expect(t.bytesReceived).toBe(Number.MAX_SAFE_INTEGER);
    expect(t.pacingRateBytesPerSec).toBeNull();
    // The builder's word path: a subflow message around the same tcp_info.
    const M = MPTCP_INFO.fields;
    const mi = Buffer.alloc(MPTCP_INFO.size);
    mi.writeUInt32LE(7, M.mptcpi_token.offset);
    mi.writeBigUInt64LE(2n ** 63n, M.mptcpi_bytes_sent.offset);
    const b = new SnapshotBuilder();
    const conn = message([attr(2, mi)]);
    b.onMptcp(conn, 0, conn.length);
    const ulp = attr(19, Buffer.concat([attr(1, Buffer.from('mptcp\0')), attr(3, attr(2, u32(7)))]));
    const sub = message([attr(2, info), ulp]);
    b.onTcp(sub, 0, sub.length);
    expect(b.connections[0]!.bytesSent).toBe(Number.MAX_SAFE_INTEGER);
    expect(b.connections[0]!.subflows[0]!.bytesSent).toBe(Number.MAX_SAFE_INTEGER);
  });
});

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
/** A netlink attribute (struct nlattr + payload, padded to 4). */
function attr(type: number, payload: Buffer): Buffer {
  const a = Buffer.alloc((4 + payload.length + 3) & ~3);
  a.writeUInt16LE(4 + payload.length, 0);
  a.writeUInt16LE(type, 2);
  payload.copy(a, 4);
  return a;
}
/** An AF_INET inet_diag_msg (72 bytes) followed by attributes, in an aligned buffer. */
function message(attrs: Buffer[]): Buffer {
  const head = Buffer.alloc(72);
  head[0] = 2; // AF_INET
  head[1] = 1; // ESTABLISHED
  const m = Buffer.concat([head, ...attrs]);
  const out = Buffer.from(new ArrayBuffer(m.length));
  m.copy(out);
  return out;
}
