import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Balia's fixed-point arithmetic (bpf/balia_math.h, compiled into the BPF object as is) against the
 * paper's formulas in floating point: bpf/test/balia_math_test.c, built here with the host's C
 * compiler (the test setup installs gcc). The lab experiments cannot tell Balia from LIA; this
 * checks its own numbers: Reno with one path, W = 4w for two equal paths, the 1.5 cap on alpha,
 * no overflow at the largest windows, and 200,000 random connections within 2%.
 */
const compiler = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version']).status === 0);

describe('Balia fixed point', () => {
  it.skipIf(compiler === undefined)(
    'matches the paper in floating point (host build of balia_math.h)',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'balia-math-'));
      try {
        const bin = join(dir, 'balia_math_test');
        execFileSync(compiler!, [
          '-O1',
          '-Wall',
          '-Werror',
          '-o',
          bin,
          resolve('bpf/test/balia_math_test.c'),
          '-lm',
        ]);
        const run = spawnSync(bin, { encoding: 'utf8' });
        expect(run.stdout).toMatch(/checked \d{6} random connections, 0 failures/);
        expect(run.status).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
