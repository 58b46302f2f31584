import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
      // ss writes a subflow bound to its interface (a `subflow dev` endpoint) as ADDR%DEV:PORT;
      // the engine reports the address and the port, so compare without the device.
      const ss = (await nsRun(lab.client, 'ss', ['-tiMH'])).stdout.replace(/%[^\s:]+:/g, ':');
      for (const c of snap.connections) {
        // ss prints `token:%x` (unpadded; ip mptcp monitor pads to 8 digits): match the number
        // whatever the padding, and whole, not as the prefix of another token.
        expect(ss).toMatch(new RegExp(`\\btoken:0*${c.token.toString(16)}\\b`));
        for (const sf of c.subflows) {
          expect(sf.tokenLocal).toBe(c.token);
          expect(ss).toContain(`${sf.localAddress}:${sf.localPort}`);
          // Its health (shared/health.ts), judged at the snapshot's time.
          const health = (sf as typeof sf & { health?: { state: string } }).health;
          expect(['active', 'idle', 'app-limited', 'stalled']).toContain(health?.state);
          // Its interface: the bound device, else the device of `ip route get DST from SRC`.
          const oracle =
            sf.ifindex > 0
              ? (await ip(['-n', lab.client, '-o', 'link', 'show'])).stdout.match(
                  new RegExp(`^${sf.ifindex}: ([^:@]+)`, 'm'),
                )?.[1]
              : / dev (\S+)/.exec(
                  (await ip(['-n', lab.client, 'route', 'get', sf.remoteAddress, 'from', sf.localAddress]))
                    .stdout,
                )?.[1];
          expect(sf.ifname).toBe(oracle);
        }
      }
      const text = (await cli(['connections', '--netns', lab.client])).stdout;
      expect(text).toMatch(/ dev c\d+ /);
      expect(text).toMatch(/^ {2}c0 {2}subflows \d+/m);
    });

    it('prints byte counts for people (JSON keeps the numbers) and every counter with its meaning', async () => {
      const snap = await lab.waitFor(
        'two connections past 1 KiB sent',
        () => cliJson<ConnectionsSnapshot>(['connections', '--netns', lab.client]),
        (s) => s.connections.length === 2 && s.connections.every((c) => c.bytesSent > 2048),
      );
      expect(Number.isInteger(snap.connections[0]!.bytesSent)).toBe(true);
      const text = (await cli(['connections', '--netns', lab.client])).stdout;
      const heads = text.split('\n').filter((l) => / token [0-9a-f]+ /.test(l));
      expect(heads).toHaveLength(2);
      for (const h of heads) {
        expect(h).toMatch(
          / sent \d+(\.\d+)? (KiB|MiB|GiB) {2}received \d+(\.\d+)? (B|KiB|MiB|GiB) {2}mptcp retrans /,
        );
        expect(h).not.toMatch(/\d{4,} B\b/);
      }
      expect(text).toMatch(/ retrans (\d+(\.\d+)? %|<0\.01 %|-) /);

      const counters = (await cli(['counters', '--all', '--netns', lab.client])).stdout.trim().split('\n');
      const nstat = (await nsRun(lab.client, 'nstat', ['-asz'])).stdout;
      const names = [...nstat.matchAll(/^MPTcpExt(\w+)\s/gm)].map((m) => m[1]);
      expect(counters).toHaveLength(names.length);
      const syn = counters.find((l) => l.startsWith('MPCapableSYNTX '));
      expect(syn).toMatch(
        /^MPCapableSYNTX +2 +SYNs sent with MP_CAPABLE: outgoing MPTCP connection attempts$/,
      );
      for (const l of counters) expect(l, l).not.toContain('not described');
    });

    it('has --help for every command, and names an option a command does not take', async () => {
      for (const cmd of ['status', 'connections', 'counters', 'serve', 'pm', 'scan', 'trace', 'exporter']) {
        const r = await cli([cmd, '--help']);
        expect(r.code, cmd).toBe(0);
        expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^usage: mptcp-studio ${cmd}\\b`));
        expect(r.stdout).toMatch(/\nexamples?:\n/);
      }
      const unknown = await cli(['connections', '--fast']);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toBe(
        'mptcp-studio: unknown option --fast for "connections" (see: mptcp-studio connections --help)\n',
      );
      const misplaced = await cli(['status', '--port', '80']);
      expect(misplaced.stderr).toBe(
        'mptcp-studio: status does not take --port (see: mptcp-studio status --help)\n',
      );
    });

    it('fails with one line and a non-zero exit for a namespace that does not exist', async () => {
      const r = await cli(['status', '--netns', 'mpst-no-such-ns']);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/does not exist/);
    });

    describe('apply and export', () => {
      let other: Lab;
      const dir = mkdtempSync(join(tmpdir(), 'mpst-cli-'));
      beforeAll(async () => {
        other = await Lab.create({ paths: 2, mptcp: 'none' });
      });
      afterAll(async () => {
        await other?.destroy();
      });

      const state = async (ns: string): Promise<string> =>
        [
          (await ip(['-n', ns, 'mptcp', 'endpoint', 'show'])).stdout,
          (await ip(['-n', ns, 'mptcp', 'limits', 'show'])).stdout,
          (await nsRun(ns, 'sysctl', ['net.mptcp', 'net.ipv4.tcp_rmem'])).stdout,
        ].join('--\n');

      it('refuses a bad profile with one line, a non-zero exit, and changes nothing', async () => {
        const before = await state(other.client);
        const bad = join(dir, 'bad.json');
        writeFileSync(
          bad,
          JSON.stringify({
            schemaVersion: 1,
            name: 'x',
            config: { limits: { subflows: 99, addAddrAccepted: 0 }, turbo: 1 },
          }),
        );
        const r = await cli(['apply', bad, '--netns', other.client]);
        expect(r.code).not.toBe(0);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/config\.limits\.subflows/);
        expect(r.stderr).toMatch(/turbo/);
        writeFileSync(bad, '{"schemaVersion": 1,');
        expect((await cli(['apply', bad, '--netns', other.client])).stderr).toMatch(/not valid JSON/);
        expect(await state(other.client)).toBe(before);
      });

      it('export on one namespace and apply on another reproduces the state exactly', async () => {
        await nsRun(lab.client, 'sysctl', [
          '-q',
          '-w',
          'net.mptcp.add_addr_timeout=45',
          'net.ipv4.tcp_rmem=4096 65536 1048576',
        ]);
        const exported = await cli(['export', '--format', 'json', '--netns', lab.client]);
        expect(exported.code, exported.stderr).toBe(0);
        const file = join(dir, 'profile.json');
        writeFileSync(file, exported.stdout);

        const dry = await cli(['apply', file, '--dry-run', '--netns', other.client]);
        expect(dry.code, dry.stdout).toBe(0);
        expect(dry.stdout).toContain('ip mptcp endpoint add 10.99.2.1 dev c1');
        expect(dry.stdout).toContain('sysctl -w net.mptcp.add_addr_timeout=45');

        const applied = await cli(['apply', file, '--netns', other.client]);
        expect(applied.code, applied.stdout + applied.stderr).toBe(0);
        expect(await state(other.client)).toBe(await state(lab.client));
        const again = await cli(['export', '--format', 'json', '--netns', other.client]);
        expect((JSON.parse(again.stdout) as { config: unknown }).config).toEqual(
          (JSON.parse(exported.stdout) as { config: unknown }).config,
        );
      });

      it('export --format sh is a script that reproduces the state', async () => {
        const fresh = await Lab.create({ paths: 2, mptcp: 'none' });
        try {
          const sh = await cli(['export', '--format', 'sh', '--netns', lab.client]);
          expect(sh.code, sh.stderr).toBe(0);
          const script = join(dir, 'state.sh');
          writeFileSync(script, sh.stdout);
          await nsRun(fresh.client, 'sh', [script]);
          expect(await state(fresh.client)).toBe(await state(lab.client));
        } finally {
          await fresh.destroy();
        }
      });
    });
  },
);
