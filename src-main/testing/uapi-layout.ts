/**
 * Compares engine/diag's uapi field tables (src-main/engine/diag/uapi-structs.ts) with a BTF
 * description of the same structs: the running kernel's (/sys/kernel/btf/vmlinux, in
 * uapi-structs.int.test.ts) or one written by btf-builder.ts (uapi-structs.test.ts, which proves
 * that a wrong table fails).
 */
import {
  btfEnumValues,
  btfMembers,
  btfResolve,
  btfSizeOf,
  btfStruct,
  type BtfType,
  type ParsedBtf,
} from '../engine/cc/btf';
import type { UapiStruct } from '../engine/diag/uapi-structs';

/** BTF_KIND_STRUCT (uapi linux/btf.h). */
const BTF_KIND_STRUCT = 4;

export interface KernelField {
  bitOffset: number;
  /** 0 unless a bitfield. */
  bitSize: number;
  /** sizeof the member's type (a bitfield: of its declared type). */
  size: number | null;
}

/**
 * The struct's members by name, with nested structs flattened to `outer.inner` (anonymous ones
 * without a prefix); arrays and unions stay whole. Null when the BTF has no such struct.
 */
export function kernelLayout(
  btf: ParsedBtf,
  name: string,
): { size: number; fields: Map<string, KernelField> } | null {
  const t = btfStruct(btf, name);
  if (!t) return null;
  const fields = new Map<string, KernelField>();
  const walk = (s: BtfType, prefix: string, base: number, depth: number): void => {
    for (const m of btfMembers(btf, s)) {
      const r = btfResolve(btf, m.type);
      const at = base + m.bitOffset;
      if (r && r.kind === BTF_KIND_STRUCT && m.bitSize === 0 && depth < 4) {
        walk(r, m.name === '' ? prefix : `${prefix}${m.name}.`, at, depth + 1);
        continue;
      }
      fields.set(`${prefix}${m.name}`, { bitOffset: at, bitSize: m.bitSize, size: btfSizeOf(btf, m.type) });
    }
  };
  walk(t, '', 0, 0);
  return { size: t.sizeOrType, fields };
}

/**
 * What differs between the table and the BTF, one sentence each; empty when they agree. Every
 * table field must be a member at the same bit offset with the same size (and bitfield width),
 * and every member the table's struct length covers must be in the table. A kernel may have a
 * longer struct (members appended by later releases), never a shorter one.
 */
export function uapiStructMismatches(btf: ParsedBtf, s: UapiStruct): string[] {
  const k = kernelLayout(btf, s.name);
  if (!k) return [`struct ${s.name} is not in the BTF`];
  const out: string[] = [];
  const where = (f: string): string => `struct ${s.name}.${f}`;
  if (k.size < s.size) out.push(`sizeof(struct ${s.name}) is ${k.size}, the table says ${s.size}`);
  const named = new Set<string>();
  for (const f of s.list) {
    named.add(f.name);
    const m = k.fields.get(f.name);
    if (!m) {
      out.push(`${where(f.name)} is not in the BTF`);
      continue;
    }
    if (m.bitOffset !== f.bitOffset)
      out.push(
        `${where(f.name)} is at bit ${m.bitOffset} (byte ${m.bitOffset / 8}), the table says bit ${f.bitOffset} (byte ${f.offset})`,
      );
    const bitfield = (b: number): string => (b > 0 ? `a ${b}-bit bitfield` : 'not a bitfield');
    if (m.bitSize !== f.bitSize)
      out.push(`${where(f.name)} is ${bitfield(m.bitSize)}, the table says ${bitfield(f.bitSize)}`);
    if (m.size !== f.size) out.push(`${where(f.name)} is ${m.size} bytes, the table says ${f.size}`);
  }
  for (const [name, m] of k.fields) {
    if (!named.has(name) && m.bitOffset < s.size * 8)
      out.push(`${where(name)} (bit ${m.bitOffset}) is missing from the table`);
  }
  return out;
}

/** Constants whose BTF enumerator (by the same name) is missing or has another value. */
export function uapiEnumMismatches(btf: ParsedBtf, values: Readonly<Record<string, number>>): string[] {
  const kernel = btfEnumValues(btf);
  const out: string[] = [];
  for (const [name, v] of Object.entries(values)) {
    const kv = kernel.get(name);
    if (kv === undefined) out.push(`${name} is not an enumerator in the BTF`);
    else if (kv !== v) out.push(`${name} is ${kv} in the BTF, the table says ${v}`);
  }
  return out;
}
