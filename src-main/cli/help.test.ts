import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeParseError } from './help';
import { main } from './main';

/** What main() prints on stdout for `argv`, and its exit code; nothing reaches a kernel. */
async function run(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    return { code: await main(argv), out };
  } finally {
    spy.mockRestore();
  }
}

/** The message run() prints for what main() threw. */
async function failure(argv: string[]): Promise<string> {
  const err: unknown = await main(argv).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, argv.join(' ')).not.toBeNull();
  return describeParseError(err, argv[0]) ?? (err as Error).message;
}

afterEach(() => vi.restoreAllMocks());

const COMMANDS = [
  'status',
  'endpoints',
  'connections',
  'counters',
  'apply',
  'export',
  'serve',
  'cc',
  'agent',
  'pm',
  'scan',
  'trace',
  'responder',
  'subflows',
  'exporter',
];

describe('mptcp-studio <command> --help', () => {
  it.each(COMMANDS)('%s --help prints its usage, its options and an example', async (cmd) => {
    for (const flag of ['--help', '-h']) {
      const { code, out } = await run([cmd, flag]);
      expect(code).toBe(0);
      expect(out.startsWith(`usage: mptcp-studio ${cmd}`), out.slice(0, 80)).toBe(true);
      expect(out).toMatch(/\n {2}--[a-z]/);
      expect(out).toMatch(/\nexamples?:\n {2}(sudo )?mptcp-studio /);
      // Each example runs this command.
      for (const line of out.split('\nexample')[1]!.split('\n').slice(1).filter(Boolean))
        expect(line).toMatch(new RegExp(`^ {2}(sudo )?mptcp-studio ${cmd}\\b`));
    }
  });

  it('lists every command in the general usage, and says how to get one command’s help', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('mptcp-studio <command> --help');
    for (const cmd of COMMANDS) expect(out).toMatch(new RegExp(`\\n {2}${cmd}\\b`));
  });

  it('gives numeric options their units', async () => {
    const help = async (cmd: string): Promise<string> => (await run([cmd, '--help'])).out;
    expect(await help('serve')).toMatch(/--poll-ms N\s+connections poll interval in milliseconds/);
    expect(await help('serve')).toMatch(/--history-minutes N[\s\S]*in minutes/);
    expect(await help('apply')).toMatch(
      /--confirm-within S\s+revert automatically unless confirmed within S seconds/,
    );
    expect(await help('connections')).toMatch(/RTT\s+\(ms\)/);
    expect(await help('trace')).toMatch(/--timeout-ms T\s+wait for a hop this long, in milliseconds/);
    expect(await help('exporter')).toMatch(
      /--poll-ms N\s+background connections poll interval in milliseconds/,
    );
    expect(await help('subflows')).toMatch(/--bytes B\s+payload size in bytes/);
    expect(await help('scan')).toMatch(/--rate PPS\s+probes per second/);
  });
});

describe('options a command does not take', () => {
  it('are refused with the command and where its options are listed', async () => {
    expect(await failure(['status', '--fast'])).toBe(
      'unknown option --fast for "status" (see: mptcp-studio status --help)',
    );
    expect(await failure(['serve', '--host', '0.0.0.0'])).toBe(
      'unknown option --host for "serve": the address to bind is --listen ADDR',
    );
    expect(await failure(['status', '--port', '8080'])).toBe(
      'status does not take --port (see: mptcp-studio status --help)',
    );
    expect(await failure(['export', '--json'])).toBe(
      'export does not take --json (see: mptcp-studio export --help)',
    );
    expect(await failure(['serve', '--port'])).toBe(
      '--port needs a value for "serve" (see: mptcp-studio serve --help)',
    );
    expect(await failure(['connections', '--json=yes'])).toBe(
      '--json takes no value for "connections" (see: mptcp-studio connections --help)',
    );
    for (const cmd of ['scan', 'trace', 'responder', 'subflows', 'exporter'])
      expect(await failure([cmd, '--fast'])).toBe(
        `unknown option --fast for "${cmd}" (see: mptcp-studio ${cmd} --help)`,
      );
  });

  it('pm says so on stderr, with its usage, and exits 2', async () => {
    let err = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      err += String(chunk);
      return true;
    });
    expect(await main(['pm', '--fast'])).toBe(2);
    expect(err.split('\n')[0]).toBe(
      'mptcp-studio pm: unknown option --fast for "pm" (see: mptcp-studio pm --help)',
    );
    expect(err).toContain('usage: mptcp-studio pm');
  });
});
