/**
 * A command-line probe around KernelEventWatcher, for the integration tests: run under
 * `ip netns exec NS node …` (events are per netns). Prints `ready {...}` (the watch result and how
 * the readers read) once subscribed; on SIGTERM, one JSON line with the events seen per kind and
 * the lost-events messages, then exits; on SIGINT the same, 0.5 s later.
 *
 *   events-probe [RCVBUF_BYTES] [STALL_MS] [PROC_DIR] [ISOLATION] [BUSY_MS]   (0 / '' for the
 *                defaults; ISOLATION: EventReaderOptions.isolation, `process` or `thread`;
 *                BUSY_MS: block this thread that long at the first link event, as a busy engine)
 *
 * The JSON line also lists link events (name, timestamp), for the timestamp test.
 */
import { KernelEventWatcher } from '../../engine/events/kernel-events';
import { resolveMptcpPm } from '../../engine/mptcp-pm/family';
import type { EventReaderOptions } from '../../engine/netlink/event-reader';

const [rcvbuf, stall, procDir, isolation, busy] = process.argv.slice(2);
const busyMs = Number(busy ?? 0);
const opts: EventReaderOptions = {};
if (Number(rcvbuf) > 0) opts.recvBufferBytes = Number(rcvbuf);
if (Number(stall) > 0) opts.stallMsForTests = Number(stall);
if (procDir) opts.procDir = procDir;
if (isolation === 'process' || isolation === 'thread') opts.isolation = isolation;
else if (isolation) throw new Error(`unknown isolation ${isolation}`);

const counts: Record<string, number> = {};
const lost: string[] = [];
const links: { name: string; timestampMs: number }[] = [];
const watcher = new KernelEventWatcher(
  resolveMptcpPm,
  (e) => {
    const kind = e.source === 'mptcp' ? e.event.kind : e.source;
    counts[kind] = (counts[kind] ?? 0) + 1;
    if (e.source === 'link') {
      if (links.length === 0 && busyMs > 0)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, busyMs);
      links.push({ name: e.name, timestampMs: e.timestampMs });
    }
  },
  (message) => lost.push(message),
  opts,
);
const finish = (): void => {
  process.stdout.write(`${JSON.stringify({ counts, lost, links, readers: watcher.readers })}\n`);
  watcher.stop();
};
// Installed before `ready` is printed: a signal sent on seeing it must not find the default
// action (the Ctrl-C test sends SIGINT at once; seen in CI).
process.on('SIGTERM', finish);
// As the web host does on Ctrl-C: shut down after a moment (work still in flight).
process.on('SIGINT', () => setTimeout(finish, 500));
const result = await watcher.start();
process.stdout.write(`ready ${JSON.stringify({ result, readers: watcher.readers })}\n`);
