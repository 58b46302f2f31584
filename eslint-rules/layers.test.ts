/**
 * The layering rule on forbidden and allowed imports: each forbidden snippet must fail lint (so a
 * broken rule cannot pass silently), each allowed one must pass.
 */
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import layers from './layers.js';

const eslint = new ESLint({
  cwd: process.cwd(),
  overrideConfigFile: true,
  overrideConfig: [
    {
      files: ['**/*.ts', '**/*.tsx'],
      languageOptions: { parser: tseslint.parser },
      plugins: { local: layers },
      rules: { 'local/layers': 'error' },
    },
  ],
});

async function lint(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.message);
}

const FORBIDDEN: [string, string, RegExp][] = [
  ['src-main/engine/pm/x.ts', "import { startWebHost } from '../../web/server';", /may not import layer web/],
  ['src-main/engine/x.ts', "import { Lab } from '../lab/lab';", /test harness/],
  ['src-main/engine/diag/x.ts', "import { fakeBackend } from '../../testing/fake-backend';", /test harness/],
  ['src-main/engine/x.ts', "import { thing } from './y.test';", /test harness/],
  ['src-main/engine/x.ts', "import { mulberry32 } from '../../shared/testing/fuzz';", /test harness/],
  [
    'src-main/engine/x.ts',
    "import { createHostHandlers } from '../host/index';",
    /may not import layer host/,
  ],
  ['src-main/web/x.ts', "import { EngineService } from '../engine/service';", /front door/],
  ['src-main/cli/x.ts', "import { LocalEngine } from '../engine/local-engine';", /front door/],
  ['src-main/host/x.ts', "import { PmController } from '../engine/pm/pm-controller';", /front door/],
  ['src-main/electron/x.ts', "import { CSP } from '../web/server';", /may not import layer web/],
  ['src-main/session/x.ts', "import { Session } from '../web/server';", /may not import layer web/],
  ['src-main/engine/x.ts', "import { BrowserWindow } from 'electron';", /package electron/],
  ['src-main/web/x.ts', "import { BrowserWindow } from 'electron';", /package electron/],
  ['shared/x.ts', "import { readFile } from 'node:fs';", /Node builtin node:fs/],
  ['shared/x.ts', "import { Worker } from 'worker_threads';", /Node builtin worker_threads/],
  [
    'shared/x.ts',
    "import { EngineService } from '../src-main/engine/index';",
    /may not import layer engine-door/,
  ],
  [
    'src-renderer/src/x.ts',
    "import { EngineService } from '../../src-main/engine/index';",
    /may not import layer/,
  ],
  ['src-renderer/src/x.ts', "import { WebSocket } from 'ws';", /package ws/],
  ['src-renderer/src/x.ts', "import { createHash } from 'crypto';", /Node builtin crypto/],
  ['src-renderer/src/x.ts', "import { FakeApi } from './testing/fake-api';", /test harness/],
  ['src-renderer/src/pages/X.tsx', "import { overview } from '../testing/fixtures';", /test harness/],
  [
    'src-renderer/src/x.ts',
    "import { syntheticSnapshot } from '../../shared/testing/synthetic';",
    /test harness/,
  ],
  ['shared/x.ts', "import { kernelStatus } from './testing/status-fixtures';", /test harness/],
  ['src-main/engine/x.ts', "export * from '../web/server';", /may not import layer web/],
  ['src-main/engine/x.ts', "const m = await import('../web/server');", /may not import layer web/],
];

const ALLOWED: [string, string][] = [
  ['src-main/engine/pm/x.ts', "import { methods } from '../../../shared/contract';"],
  [
    'src-main/engine/x.ts',
    "import { NlSocket } from './netlink/core';\nimport { Worker } from 'node:worker_threads';",
  ],
  [
    'src-main/web/x.ts',
    "import { openEngine } from '../engine/index';\nimport { Session } from '../session/session';",
  ],
  [
    'src-main/cli/x.ts',
    "import { createHostHandlers } from '../host/index';\nimport { startWebHost } from '../web/server';",
  ],
  [
    'src-main/electron/x.ts',
    "import { app } from 'electron';\nimport { Session } from '../session/session';",
  ],
  ['shared/x.ts', "import { z } from 'zod';\nimport { methods } from './contract';"],
  [
    'src-renderer/src/x.tsx',
    "import { useState } from 'react';\nimport { methods } from '../../shared/contract';",
  ],
  [
    'src-main/engine/x.test.ts',
    "import { Lab } from '../lab/lab';\nimport { startWebHost } from '../web/server';",
  ],
  ['src-main/lab/x.ts', "import { SnapshotBuilder } from '../engine/diag/decode';"],
  ['src-renderer/src/testing/x.ts', "import { FakeApi } from './fake-api';"],
  ['shared/testing/x.ts', "import { applyDelta } from '../delta';"],
];

describe('layering lint rule', () => {
  it.each(FORBIDDEN)('%s: %s is refused', async (file, code, why) => {
    const messages = await lint(file, code);
    expect(messages.length, `no error for ${code} in ${file}`).toBeGreaterThan(0);
    expect(messages.join('\n')).toMatch(why);
  });

  it.each(ALLOWED)('%s: %s is allowed', async (file, code) => {
    expect(await lint(file, code)).toEqual([]);
  });
});
