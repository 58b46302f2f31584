/**
 * `local/layers`: who may import whom, by folder (the idea of VS Code's `code-layering` and
 * `code-import-patterns` rules). Every relative import is resolved to the file it names, so
 * `../web/server` from the engine is caught however it is spelled; packages and Node builtins
 * (from node:module's builtinModules, never a hand list) are checked by name.
 *
 * The map (README "Architecture map"):
 *   shared/             pure TypeScript: shared/ and zod only
 *   src-main/engine/    shared/, the engine itself, Node, netlink
 *   src-main/host/      shared/ and the engine's front door (src-main/engine/index.ts); `ws` for the
 *                       Fleet direct mode's client of remote web hosts
 *   src-main/session/   shared/ and the engine's front door
 *   src-main/web|cli|electron/  the engine's front door, host/, session/ (and their own folder);
 *   src-main/exporter/  the Prometheus /metrics host: the engine's front door; the CLI and the
 *                       web host may start it
 *                       only electron/ imports `electron`; electron/ never imports web/
 *   src-renderer/       shared/ and the renderer itself; no Node, no host packages
 *   no product file imports src-main/lab, a testing/ folder (src-main/testing, shared/testing,
 *   src-renderer/src/testing, or any other) or a test file.
 * Tests (*.test.ts[x]), src-main/lab, testing/ folders, e2e/, bench/ and scripts/ are harness:
 * they may reach into product folders.
 */
import { builtinModules } from 'node:module';
import { dirname, join, normalize, relative, sep } from 'node:path';

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), '..'));
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** The layer of a repository-relative path (posix separators). */
export function layerOf(rel) {
  if (/\.(test|int\.test|fuzz\.test)\.tsx?$/.test(rel)) return 'test';
  // Test support lives in testing/ folders, wherever they are (shared/testing, src-main/testing,
  // src-renderer/src/testing).
  if (/(^|\/)testing\//.test(rel)) return 'harness';
  if (rel.startsWith('shared/')) return 'shared';
  if (rel === 'src-main/engine/index.ts') return 'engine-door';
  if (rel.startsWith('src-main/engine/')) return 'engine';
  for (const l of ['host', 'session', 'web', 'cli', 'electron', 'exporter']) {
    if (rel.startsWith(`src-main/${l}/`)) return l;
  }
  if (rel.startsWith('src-main/lab/')) return 'harness';
  if (rel.startsWith('src-renderer/')) return 'renderer';
  if (rel.startsWith('e2e/') || rel.startsWith('bench/') || rel.startsWith('scripts/')) return 'harness';
  return 'other';
}

/** Layers each layer may import (relative imports resolved to files). */
const MAY_IMPORT = {
  shared: ['shared'],
  engine: ['shared', 'engine', 'engine-door'],
  'engine-door': ['shared', 'engine'],
  host: ['shared', 'engine-door', 'host'],
  session: ['shared', 'engine-door', 'session'],
  web: ['shared', 'engine-door', 'host', 'session', 'web', 'exporter'],
  cli: ['shared', 'engine-door', 'host', 'session', 'cli', 'web', 'exporter'],
  exporter: ['shared', 'engine-door', 'exporter'],
  electron: ['shared', 'engine-door', 'host', 'session', 'electron'],
  renderer: ['shared', 'renderer'],
};

/** Packages (bare specifiers) each layer may import; builtins are listed by `node`. */
const PACKAGES = {
  shared: { node: false, allow: ['zod'] },
  engine: { node: true, allow: ['netlink', 'zod'] },
  'engine-door': { node: true, allow: [] },
  host: { node: true, allow: ['zod', 'ws'] },
  session: { node: false, allow: [] },
  web: { node: true, allow: ['ws', 'zod'] },
  cli: { node: true, allow: ['zod'] },
  exporter: { node: true, allow: ['prom-client', 'zod'] },
  electron: { node: true, allow: ['electron'] },
  renderer: {
    node: false,
    allow: [
      'react',
      'react-dom',
      'react-dom/client',
      'recharts',
      'zustand',
      'zod',
      'react/jsx-runtime',
      '@tanstack/react-virtual',
    ],
  },
};

function packageName(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

export default {
  rules: {
    layers: {
      meta: {
        type: 'problem',
        docs: { description: 'Enforce the folder layering of the architecture map' },
        schema: [],
      },
      create(context) {
        const file = normalize(context.filename);
        const rel = relative(ROOT, file).split(sep).join('/');
        const from = layerOf(rel);
        if (from === 'test' || from === 'harness' || from === 'other') return {};
        const check = (node, spec) => {
          if (typeof spec !== 'string') return;
          if (spec.startsWith('.')) {
            const target = relative(ROOT, normalize(join(dirname(file), spec)))
              .split(sep)
              .join('/');
            // Specifiers name a module without its extension; the layer does not depend on it.
            const to = layerOf(/\.[cm]?[jt]sx?$/.test(target) ? target : `${target}.ts`);
            if (to === 'test' || to === 'harness') {
              context.report({
                node,
                message: `${rel} is product code: it may not import test harness (${target}).`,
              });
              return;
            }
            const allowed = MAY_IMPORT[from] ?? [];
            if (!allowed.includes(to)) {
              const hint =
                to === 'engine' ? ' Reach the engine through its front door, src-main/engine/index.ts.' : '';
              context.report({
                node,
                message: `Layer ${from} (${rel}) may not import layer ${to} (${target}).${hint}`,
              });
            }
            return;
          }
          const rule = PACKAGES[from];
          if (!rule) return;
          if (BUILTINS.has(spec)) {
            if (!rule.node)
              context.report({
                node,
                message: `Layer ${from} (${rel}) may not import Node builtin ${spec}.`,
              });
            return;
          }
          const name = packageName(spec);
          if (!rule.allow.includes(spec) && !rule.allow.includes(name)) {
            context.report({ node, message: `Layer ${from} (${rel}) may not import package ${spec}.` });
          }
        };
        return {
          ImportDeclaration: (node) => check(node, node.source.value),
          ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
          ExportAllDeclaration: (node) => check(node, node.source.value),
          ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
        };
      },
    },
  },
};
