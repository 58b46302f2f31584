/**
 * The coupled congestion controls' repair counts: `cc_repairs` in the .bss of a registered
 * object (`cc_sanitize()` in bpf/mptcp_coupled.h; docs/coupled-cc-anomaly.md "The repair"). The
 * path is struct_ops map → its member programs → their maps → the one named `*.bss`: libbpf
 * truncates the object name in map names, so the .bss cannot be found by name alone when several
 * copies are loaded. Every step is a bpftool read (JSON), which needs CAP_SYS_ADMIN to walk ids.
 */
import type { Exec } from './bpftool';

export async function readCcRepairCount(exec: Exec, bpftool: string, kernelName: string): Promise<number> {
  const json = async (args: string[]): Promise<unknown> => {
    const out = await exec(bpftool, ['-j', ...args]);
    if (out.code !== 0)
      throw new Error(`bpftool ${args.join(' ')}: ${out.stderr.trim() || `exit ${out.code}`}`);
    return JSON.parse(out.stdout) as unknown;
  };
  const dump = (await json(['struct_ops', 'dump', 'name', kernelName])) as Record<string, unknown>[];
  const ops = (Array.isArray(dump) ? dump : []).find((e) => 'bpf_struct_ops_tcp_congestion_ops' in e)?.[
    'bpf_struct_ops_tcp_congestion_ops'
  ];
  // Members read "<prototype> <prog name>/prog_id:<id>"; not every program uses the .bss.
  const progIds = [...JSON.stringify(ops ?? {}).matchAll(/prog_id:(\d+)/g)].map((x) => x[1] ?? '');
  if (progIds.length === 0) throw new Error(`${kernelName}: no programs in its struct_ops dump`);
  const mapIds = new Set<number>();
  for (const progId of progIds) {
    const prog = (await json(['prog', 'show', 'id', progId])) as { map_ids?: number[] };
    for (const id of prog.map_ids ?? []) mapIds.add(id);
  }
  for (const id of mapIds) {
    const map = (await json(['map', 'show', 'id', String(id)])) as { name?: string };
    if (!map.name?.endsWith('.bss')) continue;
    const entries = (await json(['map', 'dump', 'id', String(id)])) as {
      formatted?: { value?: { '.bss'?: Record<string, unknown>[] } };
    }[];
    const vars = entries[0]?.formatted?.value?.['.bss'] ?? [];
    const v = vars.find((x) => 'cc_repairs' in x)?.['cc_repairs'];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new Error(`${kernelName}: no cc_repairs in its .bss (map ${id})`);
    }
    return v;
  }
  throw new Error(`${kernelName}: none of its programs uses a .bss map`);
}
