import { describe, expect, it } from 'vitest';
import { EngineService } from '../engine/service';
import { fakeBackend, sampleCcStatus } from '../testing/fake-backend';
import { CcUsageError, formatCcList, runCcCommand } from './cc-command';

describe('mptcp-studio cc', () => {
  it('prints each algorithm with its state and the reason it cannot be loaded or unloaded', () => {
    const text = formatCcList([
      {
        ...sampleCcStatus,
        registered: true,
        isNamespaceDefault: true,
        unloadBlockedReason: 'it is the default',
      },
      {
        ...sampleCcStatus,
        id: 'mptcp_olia',
        kernelName: 'mptcp_olia',
        title: 'OLIA',
        available: false,
        blocker: 'no-privileges',
        reason: 'loading needs CAP_BPF and CAP_PERFMON (or root)',
        objectPath: null,
      },
    ]);
    expect(text).toContain(
      'mptcp_lia       registered   LIA: Linked Increases Algorithm (RFC 6356) [namespace default]',
    );
    expect(text).toContain('  unload refused: it is the default');
    expect(text).toContain('mptcp_olia      unavailable  OLIA');
    expect(text).toContain('  why: loading needs CAP_BPF and CAP_PERFMON (or root)');
  });

  it('refuses a name outside the enum before calling the engine', async () => {
    const backend = fakeBackend();
    const engine = new EngineService(backend);
    await expect(runCcCommand(engine, ['load', '/tmp/evil.o'], false, () => undefined)).rejects.toThrow(
      CcUsageError,
    );
    await expect(runCcCommand(engine, ['frobnicate'], false, () => undefined)).rejects.toThrow(/usage/);
    expect(backend.calls).toEqual([]);
    let out = '';
    expect(await runCcCommand(engine, ['load', 'mptcp_lia'], false, (s) => (out += s))).toBe(0);
    expect(out).toBe('registered mptcp_lia\n');
    expect(backend.calls).toEqual(['mptcp:cc:load']);
  });

  it('takes mptcp_balia like the other ids and names all three in its usage', async () => {
    const backend = fakeBackend();
    const engine = new EngineService(backend);
    const usage = await runCcCommand(engine, ['load', 'balia'], false, () => undefined).catch(
      (e: Error) => e,
    );
    expect(usage).toBeInstanceOf(CcUsageError);
    expect((usage as Error).message).toBe('cc load needs one of: mptcp_lia, mptcp_olia, mptcp_balia');
    expect(backend.calls).toEqual([]);
    expect(await runCcCommand(engine, ['load', 'mptcp_balia'], false, () => undefined)).toBe(0);
    expect(await runCcCommand(engine, ['unload', 'mptcp_balia'], false, () => undefined)).toBe(0);
    expect(backend.calls).toEqual(['mptcp:cc:load', 'mptcp:cc:unload']);
  });
});
