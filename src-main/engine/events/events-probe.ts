/**
 * A command-line probe around KernelEventWatcher, for the integration tests: run under
 * `ip netns exec NS node …` (events are per netns). Prints `ready {...}` (the watch result and how
 * the readers read) once subscribed; on SIGTERM, one JSON line with the events seen per kind and
 * the lost-events messages, then exits.
 *
 *   events-probe [RCVBUF_BYTES] [STALL_MS] [PROC_DIR] [ISOLATION]   (0 / '' for the defaults;
 *                ISOLATION: EventReaderOptions.isolation, `process` or `thread`)
 */
import { KernelEventWatcher } from './kernel-events';
import { resolveMptcpPm } from '../pm/mptcp-pm';
import type { EventReaderOptions } from '../netlink/event-reader';

const [rcvbuf, stall, procDir, isolation] = process.argv.slice(2);
const opts: EventReaderOptions = {};
if (Number(rcvbuf) > 0) opts.recvBufferBytes = Number(rcvbuf);
if (Number(stall) > 0) opts.stallMsForTests = Number(stall);
if (procDir) opts.procDir = procDir;
if (isolation === 'process' || isolation === 'thread') opts.isolation = isolation;
else if (isolation) throw new Error(`unknown isolation ${isolation}`);

const counts: Record<string, number> = {};
const lost: string[] = [];
const watcher = new KernelEventWatcher(
  resolveMptcpPm,
  (e) => {
    const kind = e.source === 'mptcp' ? e.event.kind : e.source;
    counts[kind] = (counts[kind] ?? 0) + 1;
  },
  (message) => lost.push(message),
  opts,
);
const result = await watcher.start();
process.stdout.write(`ready ${JSON.stringify({ result, readers: watcher.readers })}\n`);
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ counts, lost, readers: watcher.readers })}\n`);
  watcher.stop();
});
