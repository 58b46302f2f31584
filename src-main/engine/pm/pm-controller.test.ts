/**
 * PmController's refusals, against a temporary /proc tree: each one must leave path_manager and
 * the state directory as they were. Starting for real needs the kernel: pm-controller.int.test.ts.
 */
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pmConflicts, PmStartArgsSchema, type PmAction } from '../../../shared/pm';
import { fakeBackend, sampleStatus } from '../../testing/fake-backend';
import { FakeKernel } from '../../testing/fake-kernel';
import { PmController, toAction } from './pm-controller';
import type { NetnsIdentity } from '../netns-identity';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** /proc with our status (CapEff), our netns, path_manager, and optionally an mptcpd process. */
function fakeProc(opts: { netAdmin?: boolean; mptcpd?: boolean; networkManager?: boolean } = {}): {
  root: string;
  state: string;
} {
  const root = mkdtempSync(join(tmpdir(), 'mpst-pm-proc-'));
  dirs.push(root);
  mkdirSync(join(root, 'self', 'ns'), { recursive: true });
  writeFileSync(
    join(root, 'self', 'status'),
    `Name:\tnode\nCapEff:\t${opts.netAdmin === false ? '0' : '000001ffffffffff'}\n`,
  );
  writeFileSync(join(root, 'self', 'ns', 'net'), '');
  mkdirSync(join(root, 'sys', 'net', 'mptcp'), { recursive: true });
  writeFileSync(join(root, 'sys', 'net', 'mptcp', 'path_manager'), 'kernel\n');
  const manager = (pid: string, comm: string): void => {
    mkdirSync(join(root, pid, 'ns'), { recursive: true });
    writeFileSync(join(root, pid, 'comm'), `${comm}\n`);
    // Same inode as ours: the same network namespace.
    linkSync(join(root, 'self', 'ns', 'net'), join(root, pid, 'ns', 'net'));
  };
  if (opts.mptcpd) manager('4242', 'mptcpd');
  if (opts.networkManager) manager('612', 'NetworkManager');
  return { root, state: join(root, 'state') };
}

/** The fake namespace's identity: its inode, and a cookie as netns-identity.ts would read it. */
const FAKE_COOKIE = '77';
function identityOf(root: string): NetnsIdentity {
  const { ino } = statSync(join(root, 'self', 'ns', 'net'));
  return { ino, cookie: FAKE_COOKIE, bootId: 'boot', key: `${ino}-${FAKE_COOKIE}` };
}

function controller(root: string, state: string, actions: PmAction[] = []): PmController {
  return new PmController({
    engine: fakeBackend(),
    emit: (a) => actions.push(a),
    procRoot: root,
    netnsDir: join(root, 'netns'),
    stateDir: state,
    identity: () => Promise.resolve(identityOf(root)),
  });
}

const args = (a: Record<string, unknown>) =>
  PmStartArgsSchema.parse({ role: 'client', manager: 'userspace', ...a });
const pathManager = (root: string): string =>
  readFileSync(join(root, 'sys', 'net', 'mptcp', 'path_manager'), 'utf8').trim();

describe('PmController refusals (nothing changes)', () => {
  it('refuses while mptcpd runs in the namespace, unless forced; the status reports it', async () => {
    const { root, state } = fakeProc({ mptcpd: true });
    const pm = controller(root, state);
    await expect(pm.start(args({ mode: 'fullmesh' }))).rejects.toMatchObject({
      code: 'EEXIST',
      message: expect.stringMatching(/mptcpd runs in this network namespace.*force/),
    });
    expect(pathManager(root)).toBe('kernel');
    expect(existsSync(state)).toBe(false);
    const s = await pm.status();
    expect(s).toMatchObject({
      running: false,
      pathManager: 'kernel',
      detected: { mptcpd: true, networkManager: false },
    });
  });

  it('refuses the in-kernel manager while NetworkManager runs (it owns endpoints too)', async () => {
    const { root, state } = fakeProc({ networkManager: true });
    await expect(
      controller(root, state).start(args({ mode: 'fullmesh', manager: 'kernel' })),
    ).rejects.toMatchObject({ code: 'EEXIST', message: expect.stringMatching(/^NetworkManager runs/) });
    expect(pathManager(root)).toBe('kernel');
  });

  it('pmConflicts: mptcpd always, NetworkManager only for the in-kernel manager', () => {
    const nm = { mptcpd: false, networkManager: true };
    expect(pmConflicts(nm, 'userspace')).toEqual([]);
    expect(pmConflicts(nm, 'kernel')).toEqual(['NetworkManager']);
    expect(pmConflicts({ mptcpd: true, networkManager: true }, 'userspace')).toEqual(['mptcpd']);
  });

  it('refuses without CAP_NET_ADMIN', async () => {
    const { root, state } = fakeProc({ netAdmin: false });
    await expect(controller(root, state).start(args({ mode: 'fullmesh' }))).rejects.toMatchObject({
      code: 'EPERM',
    });
    expect(pathManager(root)).toBe('kernel');
  });

  it('refuses while another live engine runs the path manager here (its state file names a live pid)', async () => {
    const { root, state } = fakeProc();
    const { ino } = statSync(join(root, 'self', 'ns', 'net'));
    mkdirSync(state);
    const file = join(state, `pm-netns-${ino}-${FAKE_COOKIE}.json`);
    const other = JSON.stringify({
      pid: process.ppid,
      previousPathManager: 'kernel',
      mode: 'fullmesh',
      role: 'client',
      manager: 'userspace',
      startedAtMs: 1,
    });
    writeFileSync(file, other);
    await expect(controller(root, state).start(args({ mode: 'fullmesh' }))).rejects.toMatchObject({
      code: 'EEXIST',
      message: expect.stringMatching(new RegExp(`pid ${process.ppid}`)),
    });
    expect(readFileSync(file, 'utf8')).toBe(other);
    expect(pathManager(root)).toBe('kernel');
  });

  it('a state file of a dead namespace that had our inode is not taken for a killed run here', async () => {
    const { root, state } = fakeProc();
    const { ino } = statSync(join(root, 'self', 'ns', 'net'));
    mkdirSync(state);
    const dead = JSON.stringify({
      pid: 999_999_999,
      previousPathManager: 'userspace',
      mode: 'fullmesh',
      role: 'client',
      manager: 'userspace',
      startedAtMs: 1,
    });
    // Same inode, another cookie; and the naming by inode alone, which cannot tell either.
    const other = join(state, `pm-netns-${ino}-${FAKE_COOKIE}1.json`);
    const legacy = join(state, `pm-netns-${ino}.json`);
    const unrelated = join(state, `pm-netns-${ino + 1}-5.json`);
    for (const f of [other, legacy, unrelated]) writeFileSync(f, dead);
    const s = await controller(root, state).status();
    expect(s.orphan).toBeNull();
    expect([existsSync(other), existsSync(legacy), existsSync(unrelated)]).toEqual([false, false, true]);
    // The same file under our own identity is a killed run of this namespace.
    writeFileSync(join(state, `pm-netns-${ino}-${FAKE_COOKIE}.json`), dead);
    expect((await controller(root, state).status()).orphan).toMatchObject({ pid: 999_999_999 });
  });

  it('the contract refuses the in-kernel manager with ndiffports and subflows out of range', () => {
    expect(
      PmStartArgsSchema.safeParse({ mode: 'ndiffports', role: 'client', manager: 'kernel' }).success,
    ).toBe(false);
    expect(
      PmStartArgsSchema.safeParse({ mode: 'fullmesh', role: 'client', manager: 'userspace', subflows: 257 })
        .success,
    ).toBe(false);
    expect(
      PmStartArgsSchema.safeParse({ mode: 'fullmesh', role: 'peer', manager: 'userspace' }).success,
    ).toBe(false);
  });

  it('stop when nothing runs changes nothing', async () => {
    const { root, state } = fakeProc();
    const actions: PmAction[] = [];
    const s = await controller(root, state, actions).stop();
    expect(s.running).toBe(false);
    expect(actions).toEqual([]);
    expect(pathManager(root)).toBe('kernel');
  });
});

describe('PmController and the writer', () => {
  it('switches path_manager through the kernel writer and puts it back on stop (in-kernel sync)', async () => {
    const { root, state } = fakeProc();
    writeFileSync(join(root, 'sys', 'net', 'mptcp', 'path_manager'), 'userspace\n');
    const kernel = new FakeKernel();
    const engine = fakeBackend({
      'mptcp:overview:get': () =>
        Promise.resolve({
          status: sampleStatus,
          limits: { subflows: 2, addAddrAccepted: 0 },
          endpoints: [],
          interfaces: [],
          errors: [],
        }),
    });
    const pm = new PmController({
      engine,
      kernel,
      emit: () => undefined,
      procRoot: root,
      netnsDir: join(root, 'netns'),
      stateDir: state,
      identity: () => Promise.resolve(identityOf(root)),
    });
    const started = await pm.start(args({ mode: 'fullmesh', manager: 'kernel' }));
    expect(started).toMatchObject({ running: true, previousPathManager: 'userspace' });
    expect(kernel.state.sysctls.get('net.mptcp.path_manager')).toBe('kernel');
    expect(kernel.watchers.addresses).toBe(1);
    await pm.stop();
    expect(kernel.calls).toEqual(['writeSysctl', 'writeSysctl']);
    expect(kernel.state.sysctls.get('net.mptcp.path_manager')).toBe('userspace');
    expect(kernel.watchers.addresses).toBe(0);
    // Nothing bypassed the writer: the file is as it was.
    expect(pathManager(root)).toBe('userspace');
  });

  it('a refused write leaves nothing running and no state file', async () => {
    const { root, state } = fakeProc();
    const kernel = new FakeKernel();
    kernel.failNext('writeSysctl');
    const pm = new PmController({
      engine: fakeBackend(),
      kernel,
      emit: () => undefined,
      procRoot: root,
      netnsDir: join(root, 'netns'),
      stateDir: state,
      identity: () => Promise.resolve(identityOf(root)),
    });
    await expect(pm.start(args({ mode: 'fullmesh', manager: 'kernel' }))).rejects.toMatchObject({
      code: 'EINVAL',
    });
    expect((await pm.status()).running).toBe(false);
    expect(existsSync(state)).toBe(false);
  });
});

describe('toAction', () => {
  it('lifts addresses, ports and ids out of the detail, names the errno and keeps the rest as text', () => {
    const a = toAction({
      timeMs: 5,
      token: 7,
      what: 'subflow-create',
      result: 'error',
      message: 'SUBFLOW_CREATE: the kernel answered EADDRNOTAVAIL',
      detail: { local: '10.0.2.1', localId: 2, remote: '10.0.1.2', remotePort: 5201, attempt: 3, empty: [] },
    });
    expect(a).toEqual({
      timestampMs: 5,
      token: 7,
      action: 'subflow-create',
      result: 'error',
      message: 'SUBFLOW_CREATE: the kernel answered EADDRNOTAVAIL',
      local: '10.0.2.1',
      localPort: null,
      localId: 2,
      remote: '10.0.1.2',
      remotePort: 5201,
      errno: 'EADDRNOTAVAIL',
      detail: { attempt: '3' },
    });
    expect(
      toAction({
        timeMs: 1,
        token: null,
        what: 'announce',
        result: 'ok',
        detail: { address: 'fd99:2::2', localId: 3 },
      }),
    ).toMatchObject({
      local: 'fd99:2::2',
      localId: 3,
      errno: null,
      message: null,
    });
  });
});
