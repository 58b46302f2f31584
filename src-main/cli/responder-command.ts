/**
 * `mptcp-studio responder --port P [--tcp] [--ipv6] [--netns NS]`: the cooperating endpoint of
 * the subflow check, an MPTCP echo server (the probe helper's `echo` mode: Node cannot open
 * IPPROTO_MPTCP sockets). It runs until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { probe } from '../engine/index';

export const RESPONDER_USAGE = `usage: mptcp-studio responder --port P [--tcp] [--ipv6] [--netns NS]
  an MPTCP echo server on all addresses, port P (with --tcp: plain TCP), for the subflow check
  of another host; it echoes every byte back. Runs until Ctrl-C.
  Under the in-kernel path manager this host accepts at most \`ip mptcp limits\` subflows joins
  per connection (2 by default) and resets the others: for a check with more subflows, raise it
  (ip mptcp limits set subflows 8), or its refusals read as the network's.

options:
  --port P       TCP port to listen on (1..65535)
  --tcp          plain TCP instead of MPTCP
  --ipv6         listen on IPv6 instead of IPv4
  --netns NS     listen inside network namespace NS (needs root)

example:
  mptcp-studio responder --port 7000
`;

export async function runResponderCommand(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      tcp: { type: 'boolean', default: false },
      ipv6: { type: 'boolean', default: false },
      netns: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out(RESPONDER_USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('responder needs --port 1..65535');
  const args = ['echo', String(port), ...(values.tcp ? ['tcp'] : []), ...(values.ipv6 ? ['6'] : [])];
  const [cmd, full] = probe.helperCommand(args, values.netns ?? null);
  const child = spawn(cmd, full, { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdout.on('data', (d: Buffer) => {
    if (d.toString().startsWith('ready'))
      out(
        `${values.tcp ? 'TCP' : 'MPTCP'} echo responder listening on port ${port}${values.ipv6 ? ' (IPv6)' : ''}; Ctrl-C stops it\n`,
      );
  });
  const stop = (): void => {
    child.stdin.end();
    child.kill('SIGTERM');
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 0)));
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  return code;
}
