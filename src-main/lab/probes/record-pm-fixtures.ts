/**
 * Records the fixtures the pm and rtnl unit tests decode: the raw reply bodies of the settings
 * reads, taken in the client namespace of a lab, with the `ip` output they were checked against.
 * Run as root, rarely (the fixtures are checked in):
 *
 *   node_modules/.bin/esbuild src-main/lab/probes/pm-probe.ts --bundle --platform=node \
 *     --format=esm --external:netlink --outfile=.cache/settings-probe.mjs
 *   node_modules/.bin/esbuild src-main/lab/probes/record-pm-fixtures.ts --bundle --platform=node \
 *     --format=esm --external:netlink --outfile=.cache/record-settings.mjs && node .cache/record-settings.mjs
 *
 * The client namespace holds: an implicit endpoint (created by the kernel for the join from c1),
 * a signal endpoint with a port bound to c0, an IPv6 subflow+fullmesh+backup endpoint, a signal
 * endpoint for an address no interface has, and limits 5 / 3. Links: lo, c0 (IPv4, a peer-mode
 * IPv4 address, IPv6), c1 set down at the end.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, ip, nsRun, run } from '../lab';

async function main(): Promise<void> {
  const lab = await Lab.create({ paths: 2 });
  try {
    const ns = lab.client;
    await ip(['-n', ns, 'addr', 'add', 'fd99:1::1/64', 'dev', 'c0', 'nodad']);
    await ip(['-n', ns, 'addr', 'add', '10.99.9.1', 'peer', '10.99.9.2/32', 'dev', 'c0']);
    await lab.startServer(5201);
    const conn = await lab.openConnections(1, { rateBytesPerSec: 10_000 });
    await lab.waitFor(
      'an implicit endpoint on the client',
      async () => (await ip(['-n', ns, 'mptcp', 'endpoint', 'show'])).stdout,
      (s) => s.includes('implicit') || s.includes('rawflags 10'),
    );
    await conn.stop();
    await ip([
      '-n',
      ns,
      'mptcp',
      'endpoint',
      'add',
      '10.99.1.1',
      'id',
      '5',
      'port',
      '10000',
      'signal',
      'dev',
      'c0',
    ]);
    await ip(['-n', ns, 'mptcp', 'endpoint', 'add', 'fd99:1::1', 'id', '7', 'subflow', 'fullmesh', 'backup']);
    await ip(['-n', ns, 'mptcp', 'endpoint', 'add', '10.99.3.1', 'id', '200', 'signal']);
    await ip(['-n', ns, 'mptcp', 'limits', 'set', 'subflows', '5', 'add_addr_accepted', '3']);
    await ip(['-n', ns, 'link', 'set', 'c1', 'down']);
    const probe = join(process.cwd(), '.cache', 'settings-probe.mjs');
    const raw = JSON.parse((await nsRun(ns, 'node', [probe, 'record'])).stdout) as Record<string, unknown>;
    const oracle = {
      endpoints: (await ip(['-n', ns, 'mptcp', 'endpoint', 'show'])).stdout,
      limits: (await ip(['-n', ns, 'mptcp', 'limits', 'show'])).stdout,
      links: (await ip(['-n', ns, '-d', 'link', 'show'])).stdout,
      addresses: (await ip(['-n', ns, 'addr', 'show'])).stdout,
    };
    const kernel = (await run('uname', ['-r'])).stdout.trim();
    const meta = { kernel, recordedBy: 'src-main/lab/probes/record-pm-fixtures.ts', oracle };
    const here = join(process.cwd(), 'src-main', 'engine');
    const pick = (...keys: string[]): Record<string, unknown> =>
      Object.fromEntries(keys.map((k) => [k, raw[k]]));
    writeFileSync(
      join(here, 'mptcp-pm', 'fixtures', 'mptcp-pm.json'),
      `${JSON.stringify({ ...meta, oracle: { endpoints: oracle.endpoints, limits: oracle.limits }, ...pick('family', 'endpoints', 'limits') }, null, 1)}\n`,
    );
    writeFileSync(
      join(here, 'rtnl', 'fixtures', 'interfaces.json'),
      `${JSON.stringify({ ...meta, oracle: { links: oracle.links, addresses: oracle.addresses }, ...pick('links', 'addresses') }, null, 1)}\n`,
    );
    process.stdout.write(`${oracle.endpoints}\n${oracle.limits}\n${oracle.links}\n${oracle.addresses}\n`);
  } finally {
    await lab.destroy();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
