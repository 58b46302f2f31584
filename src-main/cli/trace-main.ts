/**
 * `mptcp-studio trace` as a bundle of its own (out/node/trace.mjs, scripts/build-node.mjs), which
 * bin/mptcp-studio.mjs runs for `trace`: the whole CLI bundle costs about 3× Node's own start-up
 * (the engine, netlink, the web host) before a trace sends its first probe, and traceroute, the
 * tool a trace is measured against, is a small C program (docs/path-doctor.md, "Numbers").
 * Same command, same options, same exit codes as through main.ts.
 */
import { describeParseError } from './help';
import { runTraceCommand } from './trace-command';

runTraceCommand(process.argv.slice(3)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const msg = describeParseError(err, 'trace') ?? (err instanceof Error ? err.message : String(err));
    process.stderr.write(`mptcp-studio: ${msg.split('\n')[0]}\n`);
    process.exitCode = 1;
  },
);
