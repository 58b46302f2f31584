/**
 * Records the raw mptcp_pm event messages the unit tests decode (fixtures/mptcp-events.json), in
 * a lab: the in-kernel PM on both sides (a signal endpoint on the server, so ANNOUNCED and joins
 * happen), one connection opened and closed, a listener opened and closed, plus a join refused
 * by the server (SUB_CLOSED with an error) and a REMOVED. Run as root, rarely (it is checked in):
 *
 *   node_modules/.bin/esbuild src-main/lab/probes/record-events-fixture.ts --bundle --platform=node \
 *     --format=esm --external:netlink --outfile=.cache/record-events.mjs && node .cache/record-events.mjs
 *
 * `node .cache/record-events.mjs listen` is the listener it runs in each namespace: it prints one
 * hex line per event message body (genlmsghdr + attributes).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Lab, ip } from '../lab';
import { NlSocket } from '../../engine/netlink/core';
import { resolveMptcpPm } from '../../engine/mptcp-pm/family';
import { MPTCP_PM_EV_GRP_NAME } from '../../engine/uapi/mptcp';
import { NETLINK_GENERIC } from '../../engine/uapi/netlink';

async function listen(): Promise<void> {
  const genl = new NlSocket(NETLINK_GENERIC);
  const fam = await resolveMptcpPm(genl);
  genl.onNotification((buf, type, off, len) => {
    if (type === fam.familyId) process.stdout.write(`${buf.toString('hex', off, off + len)}\n`);
  });
  genl.addMembership(fam.groups.get(MPTCP_PM_EV_GRP_NAME) ?? -1);
  process.stdout.write('ready 0\n');
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

function listener(ns: string, self: string): { lines: string[]; ready: Promise<void>; stop: () => void } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, self, 'listen'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const ready = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (l.startsWith('ready')) resolve();
      else lines.push(l);
    });
  });
  return { lines, ready, stop: () => child.stdin.end() };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  const lab = await Lab.create({ paths: 2 });
  try {
    const cli = listener(lab.client, self);
    const srv = listener(lab.server, self);
    await Promise.all([cli.ready, srv.ready]);
    await lab.startServer(5201);
    const conn = await lab.openConnections(1, { rateBytesPerSec: 10_000 });
    await sleep(800);
    // REMOVED on the client: the server withdraws its announced address.
    await ip(['-n', lab.server, 'mptcp', 'endpoint', 'flush']);
    await sleep(500);
    await conn.stop();
    await sleep(500);
    // A join to a port nobody listens on: the server refuses it (SUB_CLOSED with error 111).
    await ip([
      '-n',
      lab.server,
      'mptcp',
      'endpoint',
      'add',
      '10.99.2.2',
      'dev',
      's1',
      'port',
      '5999',
      'signal',
    ]);
    const conn2 = await lab.openConnections(1, { rateBytesPerSec: 10_000 });
    await sleep(800);
    await conn2.stop();
    await sleep(800);
    cli.stop();
    srv.stop();
    const out = {
      note: 'Raw mptcp_pm event bodies (genlmsghdr + MPTCP_ATTR_*), hex, as received on Linux 6.18. Recorded by record-fixture.ts.',
      kernel: (await import('node:os')).release(),
      client: cli.lines,
      server: srv.lines,
    };
    writeFileSync(
      join(process.cwd(), 'src-main', 'engine', 'mptcp-pm', 'fixtures', 'mptcp-events.json'),
      `${JSON.stringify(out, null, 2)}\n`,
    );
    process.stdout.write(`recorded ${cli.lines.length} client and ${srv.lines.length} server events\n`);
  } finally {
    await lab.destroy();
  }
}

if (process.argv[2] === 'listen') void listen();
else void main();
