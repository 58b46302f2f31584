/**
 * Running bpftool: a fixed binary, a fixed argument vector (execFile, never a shell), and its
 * failures turned into sentences a user can act on.
 */
import { execFile } from 'node:child_process';
import { ApiFailure } from '../../../shared/result';

export interface ExecOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

export type Exec = (file: string, args: readonly string[]) => Promise<ExecOutcome>;

export const execBpftool: Exec = (file, args) =>
  new Promise((resolve) => {
    execFile(
      file,
      [...args],
      // LC_ALL=C: the error texts matched below are the C locale's strerror().
      { timeout: 30_000, maxBuffer: 16 << 20, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0;
        resolve({ code, stdout, stderr: stderr || (err && !stderr ? err.message : '') });
      },
    );
  });

/** The verifier's or libbpf's own words, shortened to what matters. */
function verifierSummary(stderr: string): string | null {
  const lines = stderr.split('\n').map((l) => l.trim());
  const begin = lines.findIndex((l) => l.includes('BEGIN PROG LOAD LOG'));
  const endIdx = lines.findIndex((l) => l.includes('END PROG LOAD LOG'));
  const failed = lines.find((l) => /BPF program load failed|failed to load program/i.test(l));
  if (begin < 0 && !failed) return null;
  const log = begin >= 0 ? lines.slice(begin + 1, endIdx > begin ? endIdx : undefined).filter(Boolean) : [];
  // The verifier ends with the reason (often followed by "processed N insns" statistics).
  const reason = [...log].reverse().find((l) => !/^processed \d+ insns|^verification time/.test(l));
  const head = failed?.replace(/^libbpf:\s*/, '') ?? 'program load failed';
  return reason ? `${head}: ${reason}` : head;
}

/** Turn a failed bpftool run into an ApiFailure with a clear reason. */
export function bpftoolFailure(
  out: ExecOutcome,
  action: 'register' | 'unregister',
  kernelName: string,
): ApiFailure {
  const text = `${out.stderr}\n${out.stdout}`;
  // First: the verifier rejects with EACCES ("Permission denied"), which is not a privilege problem.
  const verifier = verifierSummary(text);
  if (verifier) return new ApiFailure('KERNEL', `kernel refused the program: ${verifier}`);
  if (/Operation not permitted|\bEPERM\b|Permission denied|\bEACCES\b/.test(text)) {
    const needs =
      action === 'register'
        ? 'CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)'
        : 'CAP_SYS_ADMIN (bpftool finds the map by name)';
    return new ApiFailure(
      'EPERM',
      `not permitted to ${action} ${kernelName}: this needs ${needs}; run as root or through the privileged agent`,
      'EPERM',
    );
  }
  if (
    /File exists|EEXIST/.test(text) ||
    (action === 'register' && /can't register struct_ops .*: Success/.test(text))
  ) {
    return new ApiFailure(
      'EEXIST',
      `a congestion control named ${kernelName} is already registered`,
      'EEXIST',
    );
  }
  if (action === 'unregister' && /no struct_ops found|can't find|No such/i.test(text)) {
    return new ApiFailure('ENOENT', `${kernelName} is not registered as a BPF struct_ops`, 'ENOENT');
  }
  const last =
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^Error:|^libbpf:/.test(l))
      .pop() ?? text.trim().split('\n').pop();
  return new ApiFailure(
    'KERNEL',
    `bpftool struct_ops ${action} ${kernelName} failed: ${last || `exit ${out.code}`}`,
  );
}
