/**
 * Writes small BTF blobs and ELF objects byte for byte as the kernel and clang lay them out
 * (uapi linux/btf.h, ELF64), so the BTF reader is unit-tested on exact bytes without a kernel.
 */
export class BtfBuilder {
  private readonly strings: string[] = [''];
  private strLen = 1;
  private readonly types: Buffer[] = [];

  private str(s: string): number {
    if (s === '') return 0;
    const off = this.strLen;
    this.strings.push(s);
    this.strLen += Buffer.byteLength(s) + 1;
    return off;
  }

  private add(kind: number, name: string, vlen: number, sizeOrType: number, extra = Buffer.alloc(0)): number {
    const head = Buffer.alloc(12);
    head.writeUInt32LE(this.str(name), 0);
    head.writeUInt32LE(((kind & 0x1f) << 24) | (vlen & 0xffff), 4);
    head.writeUInt32LE(sizeOrType, 8);
    this.types.push(Buffer.concat([head, extra]));
    return this.types.length;
  }

  int(name: string, bytes = 4): number {
    const extra = Buffer.alloc(4);
    extra.writeUInt32LE(bytes * 8, 0); // bits
    return this.add(1, name, 0, bytes, extra);
  }

  /** An INT of `bytes` whose encoding holds `bits` bits from bit `offset` (a bitfield without kind_flag). */
  intBits(name: string, bytes: number, bits: number, offset: number): number {
    const extra = Buffer.alloc(4);
    extra.writeUInt32LE(((offset & 0xff) << 16) | (bits & 0xff), 0);
    return this.add(1, name, 0, bytes, extra);
  }

  typedef(name: string, to: number): number {
    return this.add(8, name, 0, to);
  }

  array(elem: number, count: number, indexType: number): number {
    const extra = Buffer.alloc(12);
    extra.writeUInt32LE(elem, 0);
    extra.writeUInt32LE(indexType, 4);
    extra.writeUInt32LE(count, 8);
    return this.add(3, '', 0, 0, extra);
  }

  /**
   * A struct laid out as given: member bit offsets, and bitfield widths (kind_flag set when any
   * member has one, as pahole writes vmlinux BTF: width << 24 | bit offset).
   */
  structAt(
    name: string,
    size: number,
    members: { name: string; type: number; bitOffset: number; bitSize?: number }[],
  ): number {
    const kflag = members.some((m) => (m.bitSize ?? 0) > 0);
    const extra = Buffer.alloc(members.length * 12);
    members.forEach((m, i) => {
      extra.writeUInt32LE(this.str(m.name), i * 12);
      extra.writeUInt32LE(m.type, i * 12 + 4);
      extra.writeUInt32LE(kflag ? (((m.bitSize ?? 0) << 24) | m.bitOffset) >>> 0 : m.bitOffset, i * 12 + 8);
    });
    const head = this.add(4, name, members.length, size, extra);
    if (kflag) this.types[head - 1]!.writeUInt32LE((0x80000000 | (4 << 24) | members.length) >>> 0, 4);
    return head;
  }

  /** An unsigned 4-byte enum. */
  enumType(name: string, values: [string, number][]): number {
    const extra = Buffer.alloc(values.length * 8);
    values.forEach(([n, v], i) => {
      extra.writeUInt32LE(this.str(n), i * 8);
      extra.writeUInt32LE(v >>> 0, i * 8 + 4);
    });
    return this.add(6, name, values.length, 4, extra);
  }

  ptr(to: number): number {
    return this.add(2, '', 0, to);
  }

  struct(name: string, members: [string, number][]): number {
    const extra = Buffer.alloc(members.length * 12);
    members.forEach(([m, t], i) => {
      extra.writeUInt32LE(this.str(m), i * 12);
      extra.writeUInt32LE(t, i * 12 + 4);
      extra.writeUInt32LE(i * 32, i * 12 + 8);
    });
    return this.add(4, name, members.length, members.length * 4, extra);
  }

  funcProto(ret: number, params: number[]): number {
    const extra = Buffer.alloc(params.length * 8);
    params.forEach((t, i) => extra.writeUInt32LE(t, i * 8 + 4));
    return this.add(13, '', params.length, ret, extra);
  }

  /** linkage: 0 static, 1 global, 2 extern. */
  func(name: string, proto: number, linkage: 0 | 1 | 2): number {
    return this.add(12, name, linkage, proto);
  }

  declTag(name: string, target: number): number {
    const extra = Buffer.alloc(4);
    extra.writeInt32LE(-1, 0);
    return this.add(17, name, 0, target, extra);
  }

  variable(name: string, type: number): number {
    const extra = Buffer.alloc(4);
    extra.writeUInt32LE(1, 0);
    return this.add(14, name, 0, type, extra);
  }

  datasec(name: string, vars: number[]): number {
    const extra = Buffer.alloc(vars.length * 12);
    vars.forEach((v, i) => {
      extra.writeUInt32LE(v, i * 12);
      extra.writeUInt32LE(i * 8, i * 12 + 4);
      extra.writeUInt32LE(8, i * 12 + 8);
    });
    return this.add(15, name, vars.length, vars.length * 8, extra);
  }

  build(): Buffer {
    const types = Buffer.concat(this.types);
    const strs = Buffer.from(this.strings.map((s) => `${s}\0`).join(''), 'latin1');
    const hdr = Buffer.alloc(24);
    hdr.writeUInt16LE(0xeb9f, 0);
    hdr[2] = 1; // version
    hdr.writeUInt32LE(24, 4); // hdr_len
    hdr.writeUInt32LE(0, 8); // type_off
    hdr.writeUInt32LE(types.length, 12);
    hdr.writeUInt32LE(types.length, 16); // str_off
    hdr.writeUInt32LE(strs.length, 20);
    return Buffer.concat([hdr, types, strs]);
  }
}

/** A relocatable little-endian ELF64 (EM_BPF) holding the given sections. */
export function elfObject(sections: Record<string, Buffer>): Buffer {
  const names = Object.keys(sections);
  const shstr = Buffer.from(`\0${[...names, '.shstrtab'].map((n) => `${n}\0`).join('')}`, 'latin1');
  const nameOff = (i: number): number => {
    let off = 1;
    for (let k = 0; k < i; k++) off += Buffer.byteLength(names[k] ?? '.shstrtab') + 1;
    return off;
  };
  const chunks: Buffer[] = [];
  let offset = 64;
  const headers: Buffer[] = [Buffer.alloc(64)]; // SHN_UNDEF
  const all = [...names.map((n) => sections[n] ?? Buffer.alloc(0)), shstr];
  all.forEach((data, i) => {
    const sh = Buffer.alloc(64);
    sh.writeUInt32LE(nameOff(i), 0);
    sh.writeUInt32LE(i === all.length - 1 ? 3 : 1, 4); // SHT_STRTAB / SHT_PROGBITS
    sh.writeBigUInt64LE(BigInt(offset), 0x18);
    sh.writeBigUInt64LE(BigInt(data.length), 0x20);
    headers.push(sh);
    chunks.push(data);
    offset += data.length;
  });
  const eh = Buffer.alloc(64);
  eh.writeUInt32BE(0x7f454c46, 0);
  eh[4] = 2; // ELFCLASS64
  eh[5] = 1; // ELFDATA2LSB
  eh[6] = 1;
  eh.writeUInt16LE(1, 0x10); // ET_REL
  eh.writeUInt16LE(247, 0x12); // EM_BPF
  eh.writeUInt32LE(1, 0x14);
  eh.writeBigUInt64LE(BigInt(offset), 0x28);
  eh.writeUInt16LE(64, 0x34);
  eh.writeUInt16LE(64, 0x3a);
  eh.writeUInt16LE(headers.length, 0x3c);
  eh.writeUInt16LE(headers.length - 1, 0x3e);
  return Buffer.concat([eh, ...chunks, ...headers]);
}

/** A kernel BTF with tcp_congestion_ops struct_ops support and the given kfuncs (tagged). */
export function kernelBtf(opts: { structOps?: boolean; kfuncs: string[]; untagged?: string[] }): Buffer {
  const b = new BtfBuilder();
  const int = b.int('int');
  const proto = b.funcProto(int, [int]);
  const ops = b.struct('tcp_congestion_ops', [['flags', int]]);
  if (opts.structOps !== false) b.struct('bpf_struct_ops_tcp_congestion_ops', [['data', ops]]);
  for (const k of opts.kfuncs) b.declTag('bpf_kfunc', b.func(k, proto, 1));
  for (const f of opts.untagged ?? []) b.func(f, proto, 1);
  return b.build();
}

/** An object like scripts/build-bpf.mjs writes: extern kfuncs and one struct_ops variable. */
export function ccObject(opts: { structOpsName: string; externs: string[]; section?: string }): Buffer {
  const b = new BtfBuilder();
  const int = b.int('int');
  const proto = b.funcProto(int, [int]);
  const ops = b.struct('tcp_congestion_ops', [['flags', int]]);
  for (const e of opts.externs) b.func(e, proto, 2);
  b.func('local_helper', proto, 0);
  const v = b.variable(opts.structOpsName, ops);
  b.datasec(opts.section ?? '.struct_ops', [v]);
  return elfObject({ '.text': Buffer.alloc(8), '.BTF': b.build() });
}
