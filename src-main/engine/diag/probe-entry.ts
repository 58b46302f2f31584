/**
 * A tiny command-line probe around the connection reader, for tests and the bench only. It is
 * bundled with esbuild and run under `ip netns exec NS node …` because a netlink socket sees the
 * netns of the process that opens it (G4). Prints one JSON document on stdout.
 *
 *   snapshot                      readConnections()
 *   connection TOKEN              { connection: readConnection(TOKEN), fullDumps }
 *   record                        the raw messages of the poll's dumps, hex, with their nlmsghdr
 *   bench ITERS [MSGBUF] [MODE]   time readConnections ITERS times. MODE: `thread` polls on this
 *                                 thread (no dump worker), `split` MPTCP and TCP dumps on two
 *                                 sockets of this thread, concurrently
 */
import { NETLINK_SOCK_DIAG, NlSocket } from '../netlink/core';
import { SnapshotBuilder } from './decode';
import {
  pollRequests,
  readConnection,
  readConnections,
  readConnectionStats,
  SOCK_DIAG_BY_FAMILY,
} from './connections';

async function record(diag: NlSocket): Promise<{ mptcp: string[]; tcp: string[] }> {
  const out = { mptcp: [] as string[], tcp: [] as string[] };
  for (const kind of ['mptcp', 'tcp'] as const) {
    for (const req of pollRequests[kind]) {
      await diag.dump(SOCK_DIAG_BY_FAMILY, req, `record ${kind}`, (buf, _type, off, len) => {
        out[kind].push(buf.toString('hex', off - 16, off + len));
      });
    }
  }
  return out;
}

/** The same poll with the MPTCP and TCP dumps on two sockets at once; subflows joined after. */
async function splitPoll(a: NlSocket, b: NlSocket): Promise<number> {
  const mp = new SnapshotBuilder();
  const tcpMsgs: Buffer[] = [];
  await Promise.all([
    (async () => {
      for (const req of pollRequests.mptcp)
        await a.dump(SOCK_DIAG_BY_FAMILY, req, 'mptcp', (buf, _t, off, len) => mp.onMptcp(buf, off, len));
    })(),
    (async () => {
      // The datagrams are kept (not copied) and decoded once the connections are known.
      for (const req of pollRequests.tcp)
        await b.dump(SOCK_DIAG_BY_FAMILY, req, 'tcp', (buf) => {
          if (tcpMsgs[tcpMsgs.length - 1] !== buf) tcpMsgs.push(buf);
        });
    })(),
  ]);
  let n = 0;
  for (const buf of tcpMsgs) {
    let off = 0;
    while (off + 16 <= buf.length) {
      const len = buf.readUInt32LE(off);
      if (len < 16 || off + len > buf.length) break;
      if (buf.readUInt16LE(off + 4) === SOCK_DIAG_BY_FAMILY) mp.onTcp(buf, off + 16, len - 16);
      off += (len + 3) & ~3;
    }
  }
  for (const c of mp.connections) n += c.subflows.length;
  return n;
}

/**
 * One poll, reduced to its counts. In a helper so that the snapshot is garbage once it returns, as
 * in the agent (which serializes it and lets it go): a snapshot held in the bench loop's suspended
 * frame would stay alive through the next poll and double what its scavenges copy.
 */
async function countedPoll(
  diag: NlSocket,
  inThread: boolean,
): Promise<{ connections: number; subflows: number }> {
  const snap = await readConnections(diag, { inThread });
  let subflows = 0;
  for (const c of snap.connections) subflows += c.subflows.length;
  return { connections: snap.connections.length, subflows };
}

async function main(): Promise<void> {
  const [mode = 'snapshot', arg1, arg2, arg3] = process.argv.slice(2);
  const msgBufferBytes = arg2 ? Number(arg2) : undefined;
  const diag = new NlSocket(NETLINK_SOCK_DIAG, msgBufferBytes ? { msgBufferBytes } : {});
  try {
    if (mode === 'snapshot') {
      process.stdout.write(JSON.stringify(await readConnections(diag)));
    } else if (mode === 'connection') {
      const connection = await readConnection(diag, Number(arg1));
      process.stdout.write(JSON.stringify({ connection, fullDumps: readConnectionStats.fullDumps }));
    } else if (mode === 'record') {
      process.stdout.write(JSON.stringify(await record(diag)));
    } else if (mode === 'bench') {
      const iters = Number(arg1 ?? 15);
      const split = arg3 === 'split';
      const second = split ? new NlSocket(NETLINK_SOCK_DIAG, msgBufferBytes ? { msgBufferBytes } : {}) : null;
      const ms: number[] = [];
      let connections = 0;
      let subflows = 0;
      for (let i = 0; i < iters + 2; i++) {
        const t0 = performance.now();
        if (second) {
          subflows = await splitPoll(diag, second);
        } else {
          ({ connections, subflows } = await countedPoll(diag, arg3 === 'thread'));
        }
        const dt = performance.now() - t0;
        if (i >= 2) ms.push(dt); // two warm-up rounds: JIT and first-touch allocations
      }
      second?.close();
      process.stdout.write(JSON.stringify({ ms, connections, subflows }));
    } else {
      throw new Error(`unknown mode ${mode}`);
    }
  } finally {
    diag.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
