import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionsSnapshot, Endpoint, KernelStatus, Limits } from '../../shared/types';
import { ip, Lab, labUnavailableReason, nsRun } from '../lab/lab';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/mptcp-studio.mjs', ...args],
      { maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

async function cliJson<T>(args: string[]): Promise<T> {
  const r = await cli([...args, '--json']);
  if (r.code !== 0) throw new Error(`mptcp-studio ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe.skipIf(labUnavailableReason() !== null)(
  'CLI against a lab namespace (via the per-netns agent)',
  () => {
    let lab: Lab;
    beforeAll(async () => {
      lab = await Lab.create({ paths: 2 });
      await ip(['-n', lab.client, 'mptcp', 'endpoint', 'add', '10.99.2.1', 'dev', 'c1', 'subflow', 'backup']);
      await ip([
        '-n',
        lab.client,
        'mptcp',
        'endpoint',
        'add',
        '10.99.1.1',
        'id',
        '7',
        'signal',
        'port',
        '10007',
      ]);
      await lab.startServer(5201);
      await lab.openConnections(2, { rateBytesPerSec: 50_000 });
    });
    afterAll(async () => {
      await lab?.destroy();
    });

    it('endpoints --json matches ip -j mptcp endpoint show', async () => {
      const ours = await cliJson<Endpoint[]>(['endpoints', '--netns', lab.client]);
      // iproute2 6.1 prints each flag as its own boolean key ({"signal":true,...}).
      const theirs = JSON.parse(
        (await ip(['-n', lab.client, '-j', 'mptcp', 'endpoint', 'show'])).stdout,
      ) as ({
        address: string;
        id: number;
        port?: number;
        dev?: string;
      } & Partial<Record<keyof Endpoint['flags'], boolean>>)[];
      expect(ours).toHaveLength(theirs.length);
      for (const t of theirs) {
        const o = ours.find((e) => e.id === t.id);
        expect(o, `endpoint id ${t.id}`).toBeDefined();
        expect(o?.address).toBe(t.address);
        expect(o?.port ?? undefined).toBe(t.port);
        expect(o?.ifname ?? undefined).toBe(t.dev);
        for (const f of ['signal', 'subflow', 'backup', 'fullmesh'] as const) {
          expect(o?.flags[f], `endpoint ${t.id} flag ${f}`).toBe(t[f] === true);
        }
      }
    });

    it('status --json reports the namespace, its limits and MPTCP sysctls', async () => {
      await ip(['-n', lab.client, 'mptcp', 'limits', 'set', 'subflows', '3', 'add_addr_accepted', '1']);
      const st = await cliJson<KernelStatus & { limits: Limits }>(['status', '--netns', lab.client]);
      const limits = (await ip(['-n', lab.client, 'mptcp', 'limits', 'show'])).stdout;
      expect(limits).toMatch(new RegExp(`subflows ${st.limits.subflows}\\b`));
      expect(limits).toMatch(new RegExp(`add_addr_accepted ${st.limits.addAddrAccepted}\\b`));
      expect(st.limits).toEqual({ subflows: 3, addAddrAccepted: 1 });
      expect(st.netns).toBe(lab.client);
      const sched = (await nsRun(lab.client, 'sysctl', ['-n', 'net.mptcp.scheduler'])).stdout.trim();
      expect(st.scheduler).toBe(sched);
    });

    it('connections --json finds both connections with their subflows, keyed like ss', async () => {
      const snap = await lab.waitFor(
        'two connections with two subflows each',
        () => cliJson<ConnectionsSnapshot>(['connections', '--netns', lab.client]),
        (s) => s.connections.length === 2 && s.connections.every((c) => c.subflows.length === 2),
      );
      const ss = (await nsRun(lab.client, 'ss', ['-tiMH'])).stdout;
      for (const c of snap.connections) {
        expect(ss).toContain(`token:${c.token.toString(16)}`);
        for (const sf of c.subflows) {
          expect(sf.tokenLocal).toBe(c.token);
          expect(ss).toContain(`${sf.localAddress}:${sf.localPort}`);
        }
      }
    });

    it('fails with one line and a non-zero exit for a namespace that does not exist', async () => {
      const r = await cli(['status', '--netns', 'mpst-no-such-ns']);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/does not exist/);
    });
  },
);
