/**
 * Records the fixture the unit tests decode: the raw sock_diag messages of one poll, taken in the
 * client namespace of a lab, together with `ss -tinM` as the oracle the expected values were read
 * from. Run as root, rarely (the fixture is checked in):
 *
 *   npm run build:node && node_modules/.bin/esbuild src-main/lab/probes/diag-probe.ts --bundle \
 *     --platform=node --format=esm --external:netlink --outfile=.cache/diag-probe.mjs &&
 *   node_modules/.bin/esbuild src-main/lab/probes/record-diag-fixture.ts --bundle --platform=node \
 *     --format=esm --external:netlink --outfile=.cache/record-fixture.mjs && node .cache/record-fixture.mjs
 *
 * (build:node makes out/node/dump-worker.mjs, the program of the probe's dump workers.)
 *
 * The lab holds: an IPv4 MPTCP connection with two subflows (mptcp-lab-tool), an MPTCP connection
 * to a plain-TCP server (fallback), and two AF_INET6 MPTCP connections from python3 (one over IPv6
 * proper, one to a v4-mapped address).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, ip, nsRun, run } from '../lab';

const KEEP_ALIVE =
  'import threading,sys,os\nthreading.Thread(target=lambda:(sys.stdin.read(),os._exit(0)),daemon=True).start()\n';

const PLAIN_TCP_SERVER = `${KEEP_ALIVE}import socket
s=socket.socket(socket.AF_INET,socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(('0.0.0.0',5301)); s.listen(8); print('ready 0',flush=True)
cs=[]
while True:
    c,_=s.accept(); cs.append(c)
`;

const MPTCP_V6_SERVER = `${KEEP_ALIVE}import socket
s=socket.socket(socket.AF_INET6,socket.SOCK_STREAM,262)
s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)
s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(('::',5202)); s.listen(8); print('ready 0',flush=True)
cs=[]
while True:
    c,_=s.accept(); cs.append(c)
`;

const mptcpV6Client = (addr: string): string => `${KEEP_ALIVE}import socket,time
c=socket.socket(socket.AF_INET6,socket.SOCK_STREAM,262)
c.connect((${JSON.stringify(addr)},5202)); c.sendall(b'x'*10000); print('ready 1',flush=True)
while True: time.sleep(1)
`;

function startPython(ns: string, script: string, procs: ChildProcess[]): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  procs.push(child);
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`python3 exited ${code}`)));
  });
}

async function main(): Promise<void> {
  const lab = await Lab.create({ paths: 2 });
  const procs: ChildProcess[] = [];
  try {
    // IPv6 on the first path, inside the lab namespaces only (nodad: usable at once).
    await ip(['-n', lab.client, 'addr', 'add', 'fd99:1::1/64', 'dev', 'c0', 'nodad']);
    await ip(['-n', lab.server, 'addr', 'add', 'fd99:1::2/64', 'dev', 's0', 'nodad']);
    await lab.startServer(5201);
    await startPython(lab.server, PLAIN_TCP_SERVER, procs);
    await startPython(lab.server, MPTCP_V6_SERVER, procs);
    await lab.openConnections(1, { rateBytesPerSec: 50_000 });
    await lab.openConnections(1, { port: 5301, rateBytesPerSec: 10_000 });
    await startPython(lab.client, mptcpV6Client('fd99:1::2'), procs);
    await startPython(lab.client, mptcpV6Client('::ffff:10.99.1.2'), procs);
    await lab.waitFor(
      'the join on the second path',
      async () => (await nsRun(lab.client, 'ss', ['-tniH', 'dport', '5201'])).stdout,
      (s) => (s.match(/tcp-ulp-mptcp/g) ?? []).length >= 2,
    );
    await new Promise((r) => setTimeout(r, 1500)); // let the v6 connections try their joins
    const probe = join(process.cwd(), '.cache', 'diag-probe.mjs');
    const raw = JSON.parse((await nsRun(lab.client, 'node', [probe, 'record'])).stdout) as {
      mptcp: string[];
      tcp: string[];
    };
    const ss = (await nsRun(lab.client, 'ss', ['-tinaM'])).stdout;
    const snapshot = JSON.parse((await nsRun(lab.client, 'node', [probe, 'snapshot'])).stdout) as unknown;
    const kernel = (await run('uname', ['-r'])).stdout.trim();
    const out = join(process.cwd(), 'src-main', 'engine', 'diag', 'fixtures', 'poll-lab.json');
    writeFileSync(
      out,
      `${JSON.stringify({ kernel, recordedAt: new Date().toISOString(), ss, ...raw, decodedAtRecording: snapshot }, null, 1)}\n`,
    );
    process.stdout.write(`${ss}\nwrote ${out}\n`);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await lab.destroy();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
