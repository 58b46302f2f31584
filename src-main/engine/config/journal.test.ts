/**
 * The config journal and crash recovery against a fake kernel (the real one: crash-recovery.int
 * .test.ts). An engine "killed" here is a ConfigManager whose writer never answers again, with the
 * journal's holder pid then pointed at a process that has exited.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MptcpConfig } from '../../../shared/config';
import { planConfig, type EndpointSpec, type Step } from '../../../shared/plan';
import type { ConfigRecovery, Endpoint, Limits, Overview } from '../../../shared/types';
import { sampleStatus } from '../../testing/fake-backend';
import type { NetnsIdentity } from '../netns-identity';
import type { KernelWriter } from './apply';
import { ConfigManager, stateFingerprint } from './config-manager';
import { ConfigJournal, JournalEntrySchema, type JournalEntry } from './journal';
import { recoveryPlan } from './recovery';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A pid that is certainly gone: a child that has exited and been reaped. */
const DEAD_PID = spawnSync('true').pid;

const ID: NetnsIdentity = { ino: 4026532999, cookie: '4242', bootId: 'boot-a', key: '4026532999-4242' };

interface FakeKernel {
  sysctls: Map<string, string>;
  limits: Limits;
  endpoints: Endpoint[];
  mtu: number;
  nextId: number;
  /** Kernel operations done. */
  ops: number;
  /** At operation k the engine "dies": the call never returns (after or before the kernel did it). */
  dieAt: { op: number; applied: boolean } | null;
  died: () => void;
  /** Checked at the first operation: the journal must already be on disk. */
  onFirstOp?: () => void;
}

function endpoint(
  id: number,
  address: string,
  flags: Partial<Endpoint['flags']>,
  more: Partial<Endpoint> = {},
): Endpoint {
  return {
    id,
    family: 'inet',
    address,
    port: null,
    ifindex: null,
    ifname: null,
    flags: {
      signal: false,
      subflow: false,
      backup: false,
      fullmesh: false,
      implicit: false,
      laminar: false,
      ...flags,
    },
    rawFlags: 0,
    ...more,
  };
}

function kernel(): FakeKernel {
  return {
    sysctls: new Map([
      ['net.mptcp.enabled', '1'],
      ['net.mptcp.add_addr_timeout', '120'],
      ['net.mptcp.close_timeout', '60'],
      ['net.ipv4.tcp_congestion_control', 'cubic'],
    ]),
    limits: { subflows: 2, addAddrAccepted: 1 },
    endpoints: [
      endpoint(3, '10.99.1.1', { signal: true }, { port: 10003 }),
      endpoint(9, '10.99.2.1', { subflow: true, fullmesh: true }, { ifindex: 2, ifname: 'c1' }),
    ],
    mtu: 1500,
    nextId: 1,
    ops: 0,
    dieAt: null,
    died: () => undefined,
  };
}

function overviewOf(k: FakeKernel): Overview {
  return {
    status: {
      ...sampleStatus,
      congestionControl: {
        default: k.sysctls.get('net.ipv4.tcp_congestion_control')!,
        available: ['reno', 'cubic'],
        allowed: ['reno', 'cubic'],
      },
      mptcpSysctls: [...k.sysctls]
        .filter(([n]) => n.startsWith('net.mptcp.'))
        .map(([name, value]) => ({ name, value, writable: true })),
    },
    limits: { ...k.limits },
    endpoints: [...k.endpoints].sort((a, b) => a.id - b.id).map((e) => ({ ...e, flags: { ...e.flags } })),
    interfaces: [
      {
        index: 2,
        name: 'c1',
        operState: 'up',
        operStateRaw: 6,
        adminUp: true,
        running: true,
        usable: true,
        loopback: false,
        mtuBytes: k.mtu,
        minMtuBytes: 68,
        maxMtuBytes: 65535,
        addresses: [{ family: 'inet', address: '10.99.2.1', prefixLen: 24, scope: 0 }],
      },
    ],
    errors: [],
  };
}

function writerOf(k: FakeKernel): KernelWriter {
  const op = <T>(change: () => T): Promise<T> => {
    const n = k.ops++;
    if (n === 0) k.onFirstOp?.();
    if (k.dieAt?.op === n) {
      if (k.dieAt.applied) change();
      k.died();
      return new Promise<T>(() => undefined); // the engine is gone: no answer, ever
    }
    return Promise.resolve(change());
  };
  return {
    writeSysctl: (name, value) => op(() => void k.sysctls.set(name, value)),
    setLimits: (subflows, addAddrAccepted) => op(() => void (k.limits = { subflows, addAddrAccepted })),
    addEndpoint: (spec: EndpointSpec) =>
      op(() => {
        if (k.endpoints.some((e) => e.address === spec.address && e.port === spec.port))
          throw Object.assign(new Error('exists'), { code: 'EEXIST' });
        let id = spec.id;
        if (!id) while (k.endpoints.some((e) => e.id === (id = k.nextId++)));
        const ifname = spec.ifindex === 2 ? 'c1' : null;
        k.endpoints.push(
          endpoint(id, spec.address, spec.flags, { port: spec.port, ifindex: spec.ifindex, ifname }),
        );
        return id;
      }),
    delEndpoint: (id) =>
      op(() => {
        const i = k.endpoints.findIndex((e) => e.id === id);
        if (i < 0) throw Object.assign(new Error('no such endpoint'), { code: 'ENOENT' });
        k.endpoints.splice(i, 1);
      }),
    setEndpointFlags: (id, flags) =>
      op(() => {
        const e = k.endpoints.find((x) => x.id === id);
        if (!e) throw Object.assign(new Error('no such endpoint'), { code: 'ENOENT' });
        e.flags = { ...e.flags, ...flags };
      }),
    setMtu: (_ifindex, mtu) => op(() => void (k.mtu = mtu)),
    registerCc: () => op(() => undefined),
    unregisterCc: () => op(() => undefined),
    addRule: () => op(() => undefined),
    delRule: () => op(() => undefined),
    addRoute: () => op(() => undefined),
    delRoute: () => op(() => undefined),
  };
}

/** Touches every kind of step but CC registration: removals, sysctls, limits, additions, MTU. */
const desired: MptcpConfig = {
  limits: { subflows: 4, addAddrAccepted: 3 },
  endpoints: [
    {
      address: '10.99.2.1',
      ifname: 'c1',
      flags: { signal: false, subflow: true, backup: true, fullmesh: false, laminar: false },
    },
    {
      address: '10.99.1.1',
      id: 5,
      port: 10005,
      flags: { signal: true, subflow: false, backup: false, fullmesh: false, laminar: false },
    },
  ],
  sysctls: { addAddrTimeoutS: 60, closeTimeoutS: 30 },
  congestionControl: 'reno',
  mtu: { c1: 1400 },
};

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mpst-journal-'));
  dirs.push(d);
  return d;
}

const journalPath = (dir: string, id = ID): string => join(dir, `config-netns-${id.key}.json`);

/** An engine in the namespace `id` with the state files in `dir`: what LocalEngine builds. */
function engine(
  k: FakeKernel,
  dir: string,
  id = ID,
): { m: ConfigManager; recovered: ConfigRecovery[]; pending: (number | null)[] } {
  const recovered: ConfigRecovery[] = [];
  const pending: (number | null)[] = [];
  const m = new ConfigManager({
    overview: () => Promise.resolve(overviewOf(k)),
    writer: writerOf(k),
    journal: new ConfigJournal({ dir, identity: () => Promise.resolve(id) }),
    onRecovery: (r) => recovered.push(r),
    onPending: (p) => pending.push(p),
    // The fake kernel carries no traffic: no step closes a live subflow.
    connections: () =>
      Promise.resolve({ takenAtMs: 0, pollDurationUs: 0, connections: [], orphanSubflows: 0 }),
  });
  return { m, recovered, pending };
}

function readJournal(dir: string): JournalEntry {
  return JournalEntrySchema.parse(JSON.parse(readFileSync(journalPath(dir), 'utf8')));
}

/** The engine that wrote the journal is gone (killed): its holder is a pid that no longer exists. */
function holderDies(dir: string, patch: Partial<JournalEntry> = {}): void {
  const e = readJournal(dir);
  writeFileSync(
    journalPath(dir),
    JSON.stringify({ ...e, ...patch, holder: { pid: DEAD_PID, startTicks: '1' } }),
  );
}

/** Start an apply that dies at kernel operation `op`; resolves once it has died. */
async function killedApply(
  k: FakeKernel,
  dir: string,
  op: number,
  applied: boolean,
  confirmWithinS: number | null = null,
): Promise<void> {
  const died = new Promise<void>((r) => (k.died = r));
  k.dieAt = { op, applied };
  void engine(k, dir).m.apply(desired, confirmWithinS);
  await died;
  k.dieAt = null;
}

describe('recoveryPlan', () => {
  it('undoes any prefix of a plan exactly', async () => {
    const before = overviewOf(kernel());
    const steps = planConfig(before, desired).steps;
    // MTU first; endpoint 9 keeps its address, interface and subflow flag: changed in place.
    expect(steps.map((s) => s.kind)).toEqual([
      'mtu',
      'endpoint-del',
      'sysctl',
      'sysctl',
      'limits',
      'endpoint-flags',
      'endpoint-add',
      'sysctl',
    ]);
    const want = stateFingerprint(before);
    for (let n = 0; n <= steps.length; n++) {
      const k = kernel();
      const w = writerOf(k);
      const run = async (list: Step[]): Promise<void> => {
        for (const s of list) {
          if (s.kind === 'sysctl') await w.writeSysctl(s.name, s.to);
          else if (s.kind === 'limits') await w.setLimits(s.to.subflows, s.to.addAddrAccepted);
          else if (s.kind === 'endpoint-add') await w.addEndpoint(s.endpoint);
          else if (s.kind === 'endpoint-del') await w.delEndpoint(s.endpoint.id);
          else if (s.kind === 'endpoint-flags') await w.setEndpointFlags(s.endpoint.id, s.to);
          else if (s.kind === 'mtu') await w.setMtu(s.ifindex, s.to);
        }
      };
      // The first n steps as the engine runs them, then the undo computed from what the kernel shows.
      await run(steps.slice(0, n));
      const undo = recoveryPlan(overviewOf(k), steps);
      await run(undo);
      expect(stateFingerprint(overviewOf(k)), `after ${n} steps`).toBe(want);
      if (n === 0) expect(undo).toEqual([]);
      // Undone once, nothing is left to undo.
      expect(recoveryPlan(overviewOf(k), steps)).toEqual([]);
    }
  });
});

describe('the config journal', () => {
  it('is on disk before the first step, durably named, and gone after the apply', async () => {
    const k = kernel();
    const dir = stateDir();
    let seen: JournalEntry | null = null;
    k.onFirstOp = () => (seen = readJournal(dir));
    const { m } = engine(k, dir);
    const report = await m.apply(desired, null);
    expect(report.ok).toBe(true);
    expect(seen).toMatchObject({
      phase: 'applying',
      holder: { pid: process.pid },
      netns: { cookie: '4242' },
    });
    expect(seen!.steps).toHaveLength(report.applied.length);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failed apply (rolled back) leaves no journal either', async () => {
    const k = kernel();
    const dir = stateDir();
    const m = new ConfigManager({
      overview: () => Promise.resolve(overviewOf(k)),
      writer: writerOf(k),
      journal: new ConfigJournal({ dir, identity: () => Promise.resolve(ID) }),
      connections: () =>
        Promise.resolve({ takenAtMs: 0, pollDurationUs: 0, connections: [], orphanSubflows: 0 }),
      injectFailureAt: 4,
    });
    const r = await m.apply(desired, null);
    expect([r.ok, r.restored]).toEqual([false, true]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an apply killed at any kernel operation is undone exactly by the next engine', async () => {
    const steps = planConfig(overviewOf(kernel()), desired).steps.length;
    for (let op = 0; op < steps; op++) {
      for (const applied of [false, true]) {
        const k = kernel();
        const dir = stateDir();
        const want = stateFingerprint(overviewOf(k));
        await killedApply(k, dir, op, applied);
        expect(readJournal(dir).phase).toBe('applying');
        holderDies(dir);
        const next = engine(k, dir);
        const out = await next.m.recover();
        expect(
          out.map((r) => r.kind),
          `op ${op} ${applied}`,
        ).toEqual(['apply-undone']);
        expect(out[0]).toMatchObject({ restored: true, pid: DEAD_PID });
        expect(out[0]!.message).toMatch(
          /^undid \d+ steps? of an apply started at .* by MPTCP Studio pid \d+ that did not finish: the state before it is back exactly$/,
        );
        expect(stateFingerprint(overviewOf(k)), `op ${op} ${applied}`).toBe(want);
        expect(readdirSync(dir)).toEqual([]);
        // Once only.
        expect(await engine(k, dir).m.recover()).toEqual([]);
      }
    }
  });

  it('leaves the journal of a live engine alone (it is still applying or holds a pending change)', async () => {
    const k = kernel();
    const dir = stateDir();
    const first = engine(k, dir);
    await first.m.apply(desired, 60);
    const applied = stateFingerprint(overviewOf(k));
    const other = engine(k, dir);
    expect(await other.m.recover()).toEqual([]);
    expect(stateFingerprint(overviewOf(k))).toBe(applied);
    await expect(other.m.confirm()).rejects.toMatchObject({
      code: 'EBUSY',
      message: expect.stringMatching(
        new RegExp(`held by another MPTCP Studio engine \\(pid ${process.pid}\\)`),
      ),
    });
    await expect(other.m.apply({ limits: { subflows: 1, addAddrAccepted: 1 } }, null)).rejects.toMatchObject({
      code: 'EBUSY',
    });
    await first.m.confirm();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a pending change whose engine died reverts at the next start after its deadline', async () => {
    const k = kernel();
    const dir = stateDir();
    const want = stateFingerprint(overviewOf(k));
    const first = engine(k, dir);
    const r = await first.m.apply(desired, 30);
    expect(r.revertAtMs).not.toBeNull();
    expect(readJournal(dir)).toMatchObject({ phase: 'pending', revertAtMs: r.revertAtMs });
    holderDies(dir, { revertAtMs: Date.now() - 1 });
    const next = engine(k, dir);
    const out = await next.m.recover();
    expect(out).toMatchObject([{ kind: 'pending-reverted', restored: true }]);
    expect(out[0]!.message).toMatch(/because its deadline passed with no engine holding it/);
    expect(stateFingerprint(overviewOf(k))).toBe(want);
    expect(readdirSync(dir)).toEqual([]);
    // The truth when asked to confirm it now.
    await expect(next.m.confirm()).rejects.toThrow(
      /^no change is waiting for confirmation: reverted a change applied at/,
    );
  });

  it('before its deadline it is adopted: confirmable here, reverted here at the deadline', async () => {
    const k = kernel();
    const dir = stateDir();
    const want = stateFingerprint(overviewOf(k));
    await engine(k, dir).m.apply(desired, 30);
    const applied = stateFingerprint(overviewOf(k));
    holderDies(dir);
    const second = engine(k, dir);
    const out = await second.m.recover();
    expect(out).toMatchObject([{ kind: 'pending-adopted', pid: DEAD_PID }]);
    expect(second.pending).toEqual([out[0]!.revertAtMs]);
    expect(readJournal(dir).holder.pid).toBe(process.pid);
    expect(stateFingerprint(overviewOf(k))).toBe(applied);
    // An adopter that shuts down leaves it to the journal (it did not apply it)...
    await second.m.close();
    expect(stateFingerprint(overviewOf(k))).toBe(applied);
    holderDies(dir);
    // ...and the next one adopts it again, and can confirm it.
    const third = engine(k, dir);
    expect((await third.m.recover()).map((r) => r.kind)).toEqual(['pending-adopted']);
    await expect(third.m.confirm()).resolves.toEqual({ revertAtMs: null });
    expect(readdirSync(dir)).toEqual([]);
    expect(stateFingerprint(overviewOf(k))).toBe(applied);
    expect(await engine(k, dir).m.recover()).toEqual([]);

    // Adopted, then reverted by the adopter's own timer at the deadline.
    const k2 = kernel();
    const dir2 = stateDir();
    await engine(k2, dir2).m.apply(desired, 30);
    holderDies(dir2, { revertAtMs: Date.now() + 700 });
    const fourth = engine(k2, dir2);
    expect((await fourth.m.recover()).map((r) => r.kind)).toEqual(['pending-adopted']);
    await new Promise((r) => setTimeout(r, 1000));
    expect(stateFingerprint(overviewOf(k2))).toBe(want);
    expect(fourth.pending).toEqual([expect.any(Number), null]);
    expect(readdirSync(dir2)).toEqual([]);
  });

  it('a revert that was killed half-way is finished by the next engine, deadline or not', async () => {
    const k = kernel();
    const dir = stateDir();
    const want = stateFingerprint(overviewOf(k));
    const first = engine(k, dir);
    await first.m.apply(desired, 30);
    const died = new Promise<void>((r) => (k.died = r));
    k.dieAt = { op: k.ops + 3, applied: true };
    void first.m.revert();
    await died;
    k.dieAt = null;
    expect(readJournal(dir).phase).toBe('reverting');
    holderDies(dir);
    const out = await engine(k, dir).m.recover();
    expect(out).toMatchObject([{ kind: 'revert-finished', restored: true }]);
    expect(stateFingerprint(overviewOf(k))).toBe(want);
  });

  it('two engines starting at once: exactly one undoes the interrupted apply', async () => {
    const k = kernel();
    const dir = stateDir();
    const want = stateFingerprint(overviewOf(k));
    await killedApply(k, dir, 5, true);
    holderDies(dir);
    const [a, b] = [engine(k, dir), engine(k, dir)];
    const outs = await Promise.all([a.m.recover(), b.m.recover()]);
    expect(outs.flat().map((r) => r.kind)).toEqual(['apply-undone']);
    expect(stateFingerprint(overviewOf(k))).toBe(want);
  });

  it('a claim left by an engine killed while recovering is taken over and finished', async () => {
    const k = kernel();
    const dir = stateDir();
    const want = stateFingerprint(overviewOf(k));
    await killedApply(k, dir, 6, false);
    holderDies(dir);
    // What a recovering engine leaves when it is killed right after taking the journal over.
    const claim = `${journalPath(dir)}.claim-${DEAD_PID}-1`;
    writeFileSync(claim, readFileSync(journalPath(dir)));
    rmSync(journalPath(dir));
    const out = await engine(k, dir).m.recover();
    expect(out.map((r) => r.kind)).toEqual(['apply-undone']);
    expect(stateFingerprint(overviewOf(k))).toBe(want);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a journal of a dead namespace that had our inode is discarded, never applied', async () => {
    const k = kernel();
    const dir = stateDir();
    // Written in namespace (ino, cookie 4241), which is gone; ours has the same inode, cookie 4242.
    const gone: NetnsIdentity = { ...ID, cookie: '4241', key: `${ID.ino}-4241` };
    await killedApply(k, dir, 4, true);
    const steps = readJournal(dir).steps;
    const left = JSON.stringify({
      ...readJournal(dir),
      netns: { ino: gone.ino, cookie: gone.cookie, bootId: gone.bootId },
      holder: { pid: DEAD_PID, startTicks: null },
    });
    rmSync(journalPath(dir));
    writeFileSync(journalPath(dir, gone), left);
    // And one named for us but written in another boot (a state directory that survived a reboot).
    writeFileSync(
      journalPath(dir),
      JSON.stringify({ ...JSON.parse(left), netns: { ino: ID.ino, cookie: ID.cookie, bootId: 'boot-b' } }),
    );
    const now = stateFingerprint(overviewOf(k));
    const ops = k.ops;
    const out = await engine(k, dir).m.recover();
    expect(out.map((r) => r.kind)).toEqual(['discarded', 'discarded']);
    expect(out[0]!.message).toMatch(/left by a network namespace that no longer exists/);
    expect(steps.length).toBeGreaterThan(0);
    expect(k.ops).toBe(ops); // nothing was written to the kernel
    expect(stateFingerprint(overviewOf(k))).toBe(now);
    expect(readdirSync(dir)).toEqual([]);
    // A journal for another inode is another live namespace's business: untouched.
    writeFileSync(join(dir, `config-netns-${ID.ino + 1}-7.json`), left);
    expect(await engine(k, dir).m.recover()).toEqual([]);
    expect(existsSync(join(dir, `config-netns-${ID.ino + 1}-7.json`))).toBe(true);
  });

  it('temp files of a writer that died are removed; an unreadable journal is discarded', async () => {
    const k = kernel();
    const dir = stateDir();
    writeFileSync(`${journalPath(dir)}.tmp-${DEAD_PID}-abcd`, '{"half');
    writeFileSync(journalPath(dir), '{"version": 1, "phase": "nonsense"}');
    const out = await engine(k, dir).m.recover();
    expect(out.map((r) => r.kind)).toEqual(['discarded']);
    expect(readdirSync(dir)).toEqual([]);
  });
});
