/**
 * `mptcp-studio cc list|load|unload NAME`: coupled congestion control (BPF struct_ops) from a
 * shell or a systemd unit (packaging/mptcp-studio-cc@.service). The name is checked against the
 * contract's enum before anything runs; the engine picks the object file itself.
 */
import { CcIdSchema, CC_ALGORITHMS, type CcStatus } from '../../shared/cc';
import type { EngineService } from '../engine/index';
import { countOf } from '../../shared/units';

export class CcUsageError extends Error {}

export function formatCcList(list: CcStatus[]): string {
  const out: string[] = [];
  for (const c of list) {
    const state = c.registered ? 'registered' : c.available ? 'loadable' : 'unavailable';
    const flags = [
      c.isNamespaceDefault ? 'namespace default' : null,
      c.inUseBySubflows ? `used by ${countOf(c.inUseBySubflows, 'subflow')}` : null,
    ].filter(Boolean);
    out.push(
      `${c.kernelName.padEnd(16)}${state.padEnd(13)}${c.title} (${c.reference})${flags.length ? ` [${flags.join(', ')}]` : ''}`,
    );
    if (!c.available && !c.registered && c.reason) out.push(`  why: ${c.reason}`);
    if (c.registered && c.unloadBlockedReason) out.push(`  unload refused: ${c.unloadBlockedReason}`);
    if (c.objectPath) out.push(`  object: ${c.objectPath}`);
  }
  return `${out.join('\n')}\n`;
}

/** Runs the sub-command; returns the exit code. */
export async function runCcCommand(
  engine: EngineService,
  args: string[],
  json: boolean,
  write: (s: string) => void,
): Promise<number> {
  const [verb, name] = args;
  const print = (v: unknown, human: string): void => write(json ? `${JSON.stringify(v, null, 2)}\n` : human);
  const names = CC_ALGORITHMS.map((a) => a.id).join(', ');
  if (verb === 'list') {
    const r = await engine.invoke('mptcp:cc:list', {});
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
    print(r.value, formatCcList(r.value as CcStatus[]));
    return 0;
  }
  if (verb === 'load' || verb === 'unload') {
    const id = CcIdSchema.safeParse(name);
    if (!id.success) throw new CcUsageError(`cc ${verb} needs one of: ${names}`);
    const r = await engine.invoke(verb === 'load' ? 'mptcp:cc:load' : 'mptcp:cc:unload', { name: id.data });
    if (!r.ok) {
      if (json) write(`${JSON.stringify(r, null, 2)}\n`);
      throw new Error(`${r.error.code}: ${r.error.message}`);
    }
    const v = r.value as { message: string };
    print(r.value, `${v.message}\n`);
    return 0;
  }
  throw new CcUsageError(`usage: mptcp-studio cc list | cc load NAME | cc unload NAME  (NAME: ${names})`);
}
