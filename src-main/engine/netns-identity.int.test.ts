/**
 * Namespace identity (netns-identity.ts) against the kernel: a namespace created after another was
 * deleted gets the same inode at once, but never the same identity, and nothing the dead one left
 * in /run/mptcp-studio (a config journal of an apply killed half-way, the path manager's state file
 * of a run killed) is applied to, or reported in, the new one.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip, Lab, labUnavailableReason, nsRun, run, bundleProbe } from '../lab/lab';
import { defaultAgentEntry, openEngine, type EngineService } from './index';
import { readNetnsIdentity, type NetnsIdentity } from './netns-identity';
import type { PmStatus } from '../../shared/pm';

const STATE_DIR = '/run/mptcp-studio';
const CLI = defaultAgentEntry();

describe.skipIf(labUnavailableReason() !== null)('network namespace identity', () => {
  let lab: Lab;
  let probe: string;
  /** Namespaces this test creates besides the lab's (named with the lab's prefix). */
  const extra: string[] = [];
  const engines: EngineService[] = [];

  const identityIn = async (ns: string): Promise<NetnsIdentity> =>
    JSON.parse((await nsRun(ns, process.execPath, [probe])).stdout) as NetnsIdentity;
  const stateFiles = (ino: number): string[] =>
    readdirSync(STATE_DIR).filter((n) => n.includes(`-netns-${ino}-`) || n.includes(`-netns-${ino}.`));

  beforeAll(async () => {
    lab = await Lab.create({ paths: 1, mptcp: 'none' });
    probe = await bundleProbe('src-main/lab/probes/netns-identity-probe.ts', 'netns-identity-probe.mjs');
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
    for (const ns of extra) await ip(['netns', 'del', ns]).catch(() => undefined);
    await lab?.destroy();
  });

  it('tells namespaces apart, and is stable within one', async () => {
    const [cli, srv, cli2, here] = await Promise.all([
      identityIn(lab.client),
      identityIn(lab.server),
      identityIn(lab.client),
      readNetnsIdentity(),
    ]);
    expect(cli.cookie).toMatch(/^\d+$/);
    expect(cli.ino).toBe(statSync(`/run/netns/${lab.client}`).ino);
    expect(cli2).toEqual(cli);
    expect(new Set([cli.cookie, srv.cookie, here.cookie]).size).toBe(3);
    expect(cli.key).toBe(`${cli.ino}-${cli.cookie}`);
  });

  it('a namespace that reuses a dead one’s inode gets another identity', async () => {
    const ns = `${lab.id}-reuse`;
    extra.push(ns);
    const seen: NetnsIdentity[] = [];
    for (let i = 0; i < 5; i++) {
      await ip(['netns', 'add', ns]);
      seen.push(await identityIn(ns));
      await ip(['netns', 'del', ns]);
    }
    // The kernel hands a freed inode straight out again (fs/proc/generic.c proc_alloc_inum; the
    // namespace is freed asynchronously, so not always the very next time)...
    const inodes = new Set(seen.map((s) => s.ino));
    console.log(
      `5 namespaces in a row: ${inodes.size} distinct inode(s), ${new Set(seen.map((s) => s.cookie)).size} distinct cookies`,
    );
    // ...but never the cookie.
    expect(new Set(seen.map((s) => s.cookie)).size).toBe(5);
  });

  it('what a dead namespace left (a killed apply’s journal, a killed path manager’s state) is not applied to its successor', async () => {
    const ns = `${lab.id}-succ`;
    extra.push(ns);
    await ip(['netns', 'add', ns]);
    const first = await identityIn(ns);
    const defaults = (await ip(['-n', ns, 'mptcp', 'limits', 'show'])).stdout;

    // In the first namespace: a path manager run killed (its agent, SIGKILL)...
    const e = openEngine({ netns: ns });
    engines.push(e);
    const started = await e.invoke('mptcp:pm:start', {
      mode: 'fullmesh',
      role: 'client',
      manager: 'userspace',
    });
    expect(started.ok, JSON.stringify(started)).toBe(true);
    const pmFile = `pm-netns-${first.key}.json`;
    expect(stateFiles(first.ino)).toContain(pmFile);
    const { pid } = JSON.parse(readFileSync(`${STATE_DIR}/${pmFile}`, 'utf8')) as { pid: number };
    process.kill(pid, 'SIGKILL'); // the namespace agent running the path manager
    await e.close();
    // Then limits 5/5, and an apply to 6/6 killed once its journal is written (held before its
    // only step).
    await ip(['-n', ns, 'mptcp', 'limits', 'set', 'subflows', '5', 'add_addr_accepted', '5']);
    const profile = `/tmp/mpst-identity-${process.pid}.json`;
    writeFileSync(
      profile,
      JSON.stringify({
        schemaVersion: 1,
        name: 'l',
        config: { limits: { subflows: 6, addAddrAccepted: 6 } },
      }),
    );
    const apply = spawn('ip', ['netns', 'exec', ns, process.execPath, CLI, 'apply', profile], {
      env: { ...process.env, MPTCP_STUDIO_TEST_STEP_DELAY_MS: '2000' },
      stdio: 'ignore',
    });
    await lab.waitFor(
      'the journal',
      () => Promise.resolve(stateFiles(first.ino)),
      (f) => f.includes(`config-netns-${first.key}.json`),
      20_000,
    );
    apply.kill('SIGKILL');
    await new Promise((r) => apply.once('exit', r));
    rmSync(profile, { force: true });

    expect(stateFiles(first.ino).sort()).toEqual([`config-netns-${first.key}.json`, pmFile].sort());

    // The namespace goes; a new one takes its inode (at once, unless another namespace was
    // created in between on this machine: then again).
    let second = first;
    for (let i = 0; i < 5 && (i === 0 || second.ino !== first.ino); i++) {
      await ip(['netns', 'del', ns]);
      await ip(['netns', 'add', ns]);
      second = await identityIn(ns);
    }
    expect(second.cookie).not.toBe(first.cookie);
    let leftKey = first.key;
    if (second.ino !== first.ino) {
      // No reuse this time (another namespace took the inode, which happens on a busy machine):
      // put the dead namespace's files where reuse would have put them, under the new inode with
      // the old cookie. What is tested is the engine's answer to that, not the kernel's luck.
      leftKey = first.key.replace(String(first.ino), String(second.ino));
      for (const f of stateFiles(first.ino)) {
        renameSync(`${STATE_DIR}/${f}`, `${STATE_DIR}/${f.replace(first.key, leftKey)}`);
      }
    }
    expect(leftKey).not.toBe(second.key);

    // A CLI command there: the journal is discarded, not "restored" (limits 5/5 would come back).
    const status = await run('ip', ['netns', 'exec', ns, process.execPath, CLI, 'status']);
    expect(status.stderr).toContain(
      `discarded config-netns-${leftKey}.json: it was left by a network namespace that no longer exists`,
    );
    expect((await ip(['-n', ns, 'mptcp', 'limits', 'show'])).stdout).toBe(defaults);
    // The path manager there sees no killed run of its own.
    const e2 = openEngine({ netns: ns });
    engines.push(e2);
    const st = await e2.invoke('mptcp:pm:status', {});
    expect(st.ok).toBe(true);
    expect((st as { ok: true; value: PmStatus }).value.orphan).toBeNull();
    expect(stateFiles(second.ino)).toEqual([]);
    await e2.close();
  }, 60_000);
});
