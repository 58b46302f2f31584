/**
 * `mptcp-studio subflows HOST --port P [--from IFACE|ADDR]… [--per-path N] [--bytes B] [--json]
 * [--netns NS | --agent-socket PATH]`: the subflow check against a cooperating MPTCP echo server
 * (`mptcp-studio responder --port P` there). It runs in the engine (`mptcp:probe:subflows`), which
 * needs CAP_NET_ADMIN: root, or the privileged agent (docs/path-doctor.md "Subflow check").
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { MethodResult } from '../../shared/contract';
import { formatSubflowCheckText } from '../../shared/path-doctor-format';
import type { Result } from '../../shared/result';
import { openEngine } from '../engine/index';

export const SUBFLOWS_USAGE = `usage: mptcp-studio subflows HOST --port P [options]

  One MPTCP connection to an echo server (mptcp-studio responder --port P on HOST), a subflow
  forced from every local interface (or each --from), a known payload spread over them and
  checked on its way back. Per path: joins OK, refused (RST), silently dropped, or broken once
  data flows (DSS stripped). Needs CAP_NET_ADMIN (root, or --agent-socket).

  --port P        the responder's port
  --from X        an interface or local address to test from; repeat (default: every interface)
  --remote ADDR   another address of HOST to join to; repeat (the addresses HOST announces are
                  joined to as well): every local address is paired with every remote address
  --allow-pm-switch
                  needed when this namespace runs the in-kernel path manager: the check's socket
                  is created under net.mptcp.path_manager=userspace, which is put back at once
                  (about a millisecond; an MPTCP socket another program opens in that moment
                  gets no subflows from the in-kernel path manager). Without it the check is
                  refused and nothing changes.
  --per-path N    subflows per path, each with its own source port (default 1, at most 8)
  --bytes B       payload size in bytes (default 1048576)
  --join-timeout-ms T
                  a join not answered by then counts as dropped (default 3000)
  --json          the result as JSON
  --netns NS      check from inside network namespace NS (needs root)
  --agent-socket PATH
                  run the check in the privileged agent at PATH

example:
  sudo mptcp-studio subflows server.example.net --port 7000 --from eth0 --from wwan0 --allow-pm-switch
`;

class SubflowsUsageError extends Error {}

export async function runSubflowsCommand(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      from: { type: 'string', multiple: true },
      remote: { type: 'string', multiple: true },
      'allow-pm-switch': { type: 'boolean', default: false },
      'per-path': { type: 'string', default: '1' },
      bytes: { type: 'string', default: String(1024 * 1024) },
      'join-timeout-ms': { type: 'string', default: '3000' },
      json: { type: 'boolean', default: false },
      netns: { type: 'string' },
      'agent-socket': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out(SUBFLOWS_USAGE);
    return 0;
  }
  if (positionals.length !== 1)
    throw new SubflowsUsageError('subflows needs exactly one HOST (see: mptcp-studio subflows --help)');
  if (values.netns && values['agent-socket'])
    throw new SubflowsUsageError('give --netns or --agent-socket, not both');
  const engine = openEngine({ netns: values.netns ?? null, agentSocket: values['agent-socket'] ?? null });
  const runId = `cli-${randomBytes(8).toString('hex')}`;
  const ac = new AbortController();
  const onSig = (): void => {
    ac.abort();
    void engine.invoke('mptcp:probe:cancel', { runId });
  };
  process.once('SIGINT', onSig);
  try {
    const finished = new Promise<string>((resolve) => {
      engine.on('mptcp:probe:progress', (p) => {
        if (p.runId !== runId) return;
        if (p.state === 'running') {
          if (process.stderr.isTTY) err(`\r${p.message.slice(0, 100).padEnd(100)}`);
          return;
        }
        if (process.stderr.isTTY) err('\n');
        resolve(p.state);
      });
    });
    const started = await engine.invoke('mptcp:probe:subflows', {
      runId,
      target: positionals[0] ?? '',
      port: Number(values.port),
      from: values.from ?? [],
      subflowsPerPath: Number(values['per-path']),
      payloadBytes: Number(values.bytes),
      joinTimeoutMs: Number(values['join-timeout-ms']),
      remotes: values.remote ?? [],
      allowPmSwitch: values['allow-pm-switch'],
    });
    if (!started.ok) throw new SubflowsUsageError(`${started.error.code}: ${started.error.message}`);
    const state = await finished;
    const run = (await engine.invoke('mptcp:probe:get', { runId })) as Result<
      MethodResult<'mptcp:probe:get'>
    >;
    if (!run.ok || !run.value) throw new Error(run.ok ? 'the run left no result' : run.error.message);
    if (state === 'failed' || run.value.result?.kind !== 'subflows') throw new Error(run.value.summary);
    const check = run.value.result.check;
    out(values.json ? `${JSON.stringify(check, null, 2)}\n` : formatSubflowCheckText(check));
    return check.cancelled ? 130 : 0;
  } finally {
    process.off('SIGINT', onSig);
    await engine.close();
  }
}
