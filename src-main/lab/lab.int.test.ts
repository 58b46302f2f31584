import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labUnavailableReason, ip, nsRun } from './lab';

const skip = labUnavailableReason();

describe.skipIf(skip !== null)('lab', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ paths: 2 });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('builds two namespaces joined by two veth paths with a signal endpoint', async () => {
    const { stdout } = await ip(['-n', lab.server, '-j', 'mptcp', 'endpoint', 'show']);
    const eps = JSON.parse(stdout) as { address: string; flags: string[] }[];
    expect(eps.map((e) => e.address)).toEqual(['10.99.2.2']);
    const addrs = await ip(['-n', lab.client, '-j', 'addr', 'show', 'dev', 'c1']);
    expect(addrs.stdout).toContain('10.99.2.1');
  });

  it('carries a real MPTCP connection with one subflow per path', async () => {
    await lab.startServer(5201);
    await lab.openConnections(1, { rateBytesPerSec: 100_000 });
    const out = await lab.waitFor(
      'two established subflows',
      async () => (await nsRun(lab.client, 'ss', ['-tniH', 'state', 'established', 'dport', '5201'])).stdout,
      (s) => (s.match(/tcp-ulp-mptcp/g) ?? []).length === 2,
    );
    expect(out).toContain('10.99.1.1');
    expect(out).toContain('10.99.2.1');
  });

  it('removes its namespaces on destroy', async () => {
    const other = await Lab.create({ paths: 1 });
    await other.destroy();
    const { stdout } = await ip(['netns', 'list']);
    expect(stdout).not.toContain(other.client);
    expect(stdout).not.toContain(other.server);
  });
});
