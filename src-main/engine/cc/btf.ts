/**
 * Just enough of BTF (Documentation/bpf/btf.rst, uapi linux/btf.h) to answer two questions
 * without running anything: does this kernel offer what a BPF congestion control needs, and
 * what does a compiled program need? (Also, read on demand: a struct's member layout and enum
 * values, against which engine/diag's uapi tables are tested.) Reading it ourselves avoids spawning `bpftool btf dump` on
 * a 6 MB vmlinux BTF at every list, and the object's own BTF says exactly which kernel
 * functions (kfuncs) it calls, so "missing kfuncs" names real symbols, not a guessed list.
 */

const BTF_MAGIC = 0xeb9f;

/** BTF_KIND_* (uapi linux/btf.h). */
const KIND = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

/** btf_func_linkage: BTF_FUNC_EXTERN marks a function the program expects from the kernel. */
const BTF_FUNC_EXTERN = 2;

export interface BtfType {
  id: number;
  kind: number;
  name: string;
  /** FUNC: linkage; STRUCT/UNION/ENUM/DATASEC/FUNC_PROTO: member count. */
  vlen: number;
  /** size for sized kinds, referenced type id for the others. */
  sizeOrType: number;
  /** DATASEC: the variables' type ids. */
  members: number[];
  /** info's kind_flag: STRUCT/UNION members encode bitfield sizes in their offsets. */
  kflag: boolean;
  /** Where the kind's data after the 12-byte header starts in the blob (btfMembers, btfEnumerators). */
  dataAt: number;
}

export interface ParsedBtf {
  types: BtfType[];
  /** The blob, for the on-demand readers below. */
  buf: Buffer;
  /** The string at a string-section offset. */
  str: (off: number) => string;
}

export class BtfError extends Error {}

/** Parse a raw BTF blob (the kernel's /sys/kernel/btf/vmlinux, or an ELF .BTF section). */
export function parseBtf(buf: Buffer): ParsedBtf {
  if (buf.length < 24 || buf.readUInt16LE(0) !== BTF_MAGIC) {
    throw new BtfError('not BTF (bad magic; only little-endian BTF is read)');
  }
  const hdrLen = buf.readUInt32LE(4);
  const typeOff = hdrLen + buf.readUInt32LE(8);
  const typeLen = buf.readUInt32LE(12);
  const strOff = hdrLen + buf.readUInt32LE(16);
  const strLen = buf.readUInt32LE(20);
  if (typeOff + typeLen > buf.length || strOff + strLen > buf.length) {
    throw new BtfError('BTF sections run past the end of the data');
  }
  const str = (off: number): string => {
    if (off === 0 || off >= strLen) return '';
    const start = strOff + off;
    const end = buf.indexOf(0, start);
    return buf.toString('latin1', start, end < 0 || end > strOff + strLen ? strOff + strLen : end);
  };
  const types: BtfType[] = [];
  let p = typeOff;
  const end = typeOff + typeLen;
  let id = 1;
  while (p + 12 <= end) {
    const nameOff = buf.readUInt32LE(p);
    const info = buf.readUInt32LE(p + 4);
    const sizeOrType = buf.readUInt32LE(p + 8);
    const vlen = info & 0xffff;
    const kind = (info >>> 24) & 0x1f;
    const kflag = (info & 0x80000000) !== 0;
    p += 12;
    const dataAt = p;
    const members: number[] = [];
    switch (kind) {
      case KIND.INT:
      case KIND.VAR:
      case KIND.DECL_TAG:
        p += 4;
        break;
      case KIND.ARRAY:
        p += 12;
        break;
      case KIND.STRUCT:
      case KIND.UNION:
      case KIND.ENUM64:
        p += vlen * 12;
        break;
      case KIND.ENUM:
      case KIND.FUNC_PROTO:
        p += vlen * 8;
        break;
      case KIND.DATASEC:
        for (let i = 0; i < vlen; i++) members.push(buf.readUInt32LE(p + i * 12));
        p += vlen * 12;
        break;
      case KIND.PTR:
      case KIND.FWD:
      case KIND.TYPEDEF:
      case KIND.VOLATILE:
      case KIND.CONST:
      case KIND.RESTRICT:
      case KIND.FUNC:
      case KIND.FLOAT:
      case KIND.TYPE_TAG:
        break;
      default:
        throw new BtfError(`unknown BTF kind ${kind} at type ${id}`);
    }
    types.push({ id, kind, name: str(nameOff), vlen, sizeOrType, members, kflag, dataAt });
    id++;
  }
  return { types, buf, str };
}

// --- Struct layouts and enum values, read on demand (engine/diag checks its uapi tables) -------

export interface BtfMember {
  name: string;
  type: number;
  /** From the start of the struct. */
  bitOffset: number;
  /** A bitfield's width; 0 for a plain member. */
  bitSize: number;
}

/** The type a typedef / const / volatile / restrict / type tag chain ends at. */
export function btfResolve(btf: ParsedBtf, id: number): BtfType | undefined {
  let t = btf.types[id - 1];
  for (let i = 0; t && i < 32; i++) {
    if (
      t.kind !== KIND.TYPEDEF &&
      t.kind !== KIND.CONST &&
      t.kind !== KIND.VOLATILE &&
      t.kind !== KIND.RESTRICT &&
      t.kind !== KIND.TYPE_TAG
    )
      return t;
    t = btf.types[t.sizeOrType - 1];
  }
  return undefined;
}

/** sizeof the type, in bytes; null for a type without a size (void, a function). */
export function btfSizeOf(btf: ParsedBtf, id: number): number | null {
  const t = btfResolve(btf, id);
  if (!t) return null;
  switch (t.kind) {
    case KIND.INT:
    case KIND.STRUCT:
    case KIND.UNION:
    case KIND.ENUM:
    case KIND.ENUM64:
    case KIND.FLOAT:
      return t.sizeOrType;
    case KIND.PTR:
      return 8;
    case KIND.ARRAY: {
      const elem = btfSizeOf(btf, btf.buf.readUInt32LE(t.dataAt));
      return elem === null ? null : elem * btf.buf.readUInt32LE(t.dataAt + 8);
    }
    default:
      return null;
  }
}

/**
 * The members of a STRUCT or UNION. Bitfields: with kind_flag, the offset word holds the width in
 * its top byte; without it, an INT member narrower than its type (BTF_INT_BITS) is one, starting
 * BTF_INT_OFFSET bits into the member (Documentation/bpf/btf.rst).
 */
export function btfMembers(btf: ParsedBtf, t: BtfType): BtfMember[] {
  if (t.kind !== KIND.STRUCT && t.kind !== KIND.UNION) return [];
  const out: BtfMember[] = [];
  for (let i = 0; i < t.vlen; i++) {
    const at = t.dataAt + i * 12;
    const name = btf.str(btf.buf.readUInt32LE(at));
    const type = btf.buf.readUInt32LE(at + 4);
    const off = btf.buf.readUInt32LE(at + 8);
    if (t.kflag) {
      out.push({ name, type, bitOffset: off & 0xffffff, bitSize: off >>> 24 });
      continue;
    }
    const r = btfResolve(btf, type);
    if (r?.kind === KIND.INT) {
      const enc = btf.buf.readUInt32LE(r.dataAt);
      const nbits = enc & 0xff;
      const intOff = (enc >>> 16) & 0xff;
      if (nbits !== r.sizeOrType * 8 || intOff !== 0) {
        out.push({ name, type, bitOffset: off + intOff, bitSize: nbits });
        continue;
      }
    }
    out.push({ name, type, bitOffset: off, bitSize: 0 });
  }
  return out;
}

/** The enumerators of an ENUM or ENUM64 (ENUM64 values exact up to 2^53). */
export function btfEnumerators(btf: ParsedBtf, t: BtfType): { name: string; value: number }[] {
  const out: { name: string; value: number }[] = [];
  if (t.kind === KIND.ENUM) {
    for (let i = 0; i < t.vlen; i++) {
      const at = t.dataAt + i * 8;
      // kind_flag: a signed enum.
      const v = t.kflag ? btf.buf.readInt32LE(at + 4) : btf.buf.readUInt32LE(at + 4);
      out.push({ name: btf.str(btf.buf.readUInt32LE(at)), value: v });
    }
  } else if (t.kind === KIND.ENUM64) {
    for (let i = 0; i < t.vlen; i++) {
      const at = t.dataAt + i * 12;
      const v = btf.buf.readUInt32LE(at + 4) + btf.buf.readUInt32LE(at + 8) * 2 ** 32;
      out.push({ name: btf.str(btf.buf.readUInt32LE(at)), value: v });
    }
  }
  return out;
}

/** The first STRUCT of this name with members (not a forward declaration). */
export function btfStruct(btf: ParsedBtf, name: string): BtfType | undefined {
  return btf.types.find((t) => t.kind === KIND.STRUCT && t.name === name && t.vlen > 0);
}

/** Every enumerator of every ENUM and ENUM64, by name (the first one of a name wins). */
export function btfEnumValues(btf: ParsedBtf): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of btf.types) {
    if (t.kind !== KIND.ENUM && t.kind !== KIND.ENUM64) continue;
    for (const e of btfEnumerators(btf, t)) if (!out.has(e.name)) out.set(e.name, e.value);
  }
  return out;
}

/** What the kernel offers, as far as a struct_ops congestion control cares. */
export interface KernelBtfFacts {
  /** `struct bpf_struct_ops_tcp_congestion_ops`: tcp_congestion_ops can be a struct_ops (5.6+). */
  tcpCongStructOps: boolean;
  /** Every FUNC name. */
  funcs: Set<string>;
  /** FUNCs tagged `bpf_kfunc` (pahole 1.25+ emits the tag); empty when the kernel has no tags. */
  taggedKfuncs: Set<string>;
}

export function kernelFacts(btf: ParsedBtf): KernelBtfFacts {
  const funcs = new Set<string>();
  const taggedKfuncs = new Set<string>();
  let tcpCongStructOps = false;
  for (const t of btf.types) {
    if (t.kind === KIND.FUNC) funcs.add(t.name);
    else if (t.kind === KIND.STRUCT && t.name === 'bpf_struct_ops_tcp_congestion_ops')
      tcpCongStructOps = true;
    else if (t.kind === KIND.DECL_TAG && t.name === 'bpf_kfunc') {
      const target = btf.types[t.sizeOrType - 1];
      if (target?.kind === KIND.FUNC) taggedKfuncs.add(target.name);
    }
  }
  return { tcpCongStructOps, funcs, taggedKfuncs };
}

/** Kfuncs the program calls that the kernel does not offer. */
export function missingKfuncs(kernel: KernelBtfFacts, needed: readonly string[]): string[] {
  const offered = kernel.taggedKfuncs.size > 0 ? kernel.taggedKfuncs : kernel.funcs;
  return needed.filter((f) => !offered.has(f));
}

/** What a compiled struct_ops object declares. */
export interface ObjectBtfFacts {
  /** Functions declared `extern ... __ksym`: the kfuncs it calls. */
  externFuncs: string[];
  /** Variables in .struct_ops / .struct_ops.link: each is one struct_ops map, by name. */
  structOps: { name: string; structName: string }[];
}

export function objectFacts(btf: ParsedBtf): ObjectBtfFacts {
  const byId = (id: number): BtfType | undefined => btf.types[id - 1];
  const resolveStruct = (id: number): string => {
    let t = byId(id);
    for (let i = 0; t && i < 16; i++) {
      if (t.kind === KIND.STRUCT) return t.name;
      t = byId(t.sizeOrType);
    }
    return '';
  };
  const externFuncs = btf.types
    .filter((t) => t.kind === KIND.FUNC && t.vlen === BTF_FUNC_EXTERN)
    .map((t) => t.name);
  const structOps: ObjectBtfFacts['structOps'] = [];
  for (const t of btf.types) {
    if (t.kind !== KIND.DATASEC || (t.name !== '.struct_ops' && t.name !== '.struct_ops.link')) continue;
    for (const varId of t.members) {
      const v = byId(varId);
      if (v?.kind === KIND.VAR) structOps.push({ name: v.name, structName: resolveStruct(v.sizeOrType) });
    }
  }
  return { externFuncs, structOps };
}

/** The .BTF section of a little-endian ELF64 object (what clang -target bpf writes). */
export function elfSection(elf: Buffer, wanted: string): Buffer | null {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new BtfError('not an ELF file');
  if (elf[4] !== 2 || elf[5] !== 1) throw new BtfError('not a little-endian ELF64 object');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  if (shoff + shnum * shentsize > elf.length) throw new BtfError('ELF section table runs past the end');
  const header = (i: number) => {
    const o = shoff + i * shentsize;
    return {
      name: elf.readUInt32LE(o),
      offset: Number(elf.readBigUInt64LE(o + 0x18)),
      size: Number(elf.readBigUInt64LE(o + 0x20)),
    };
  };
  const names = header(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const start = names.offset + h.name;
    const name = elf.toString('latin1', start, elf.indexOf(0, start));
    if (name === wanted) {
      if (h.offset + h.size > elf.length) throw new BtfError(`ELF section ${wanted} runs past the end`);
      return elf.subarray(h.offset, h.offset + h.size);
    }
  }
  return null;
}
