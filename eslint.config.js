import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import layers from './eslint-rules/layers.js';

// Layering (see README "Architecture"): shared/ is pure TS; src-main/ and src-renderer/ import
// shared/ only across the line; only src-main/electron/ may import electron.
const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'child_process', 'net', 'http', 'crypto', 'events'];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'out/',
      'dist/',
      'test-results/',
      'playwright-report/',
      'lab-artifacts/',
      '.cache/',
      'eslint.config.js',
      'eslint-rules/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    // Who may import whom, by folder: eslint-rules/layers.js (the README's architecture map).
    files: ['shared/**/*.ts', 'src-main/**/*.ts', 'src-renderer/**/*.{ts,tsx}'],
    plugins: { local: layers },
    rules: { 'local/layers': 'error' },
  },
  {
    // No import cycles in product code, type-only imports included (a cycle is a layering knot
    // even when the compiler erases it). Tests and the harness may import in circles.
    files: ['shared/**/*.ts', 'src-main/**/*.ts', 'src-renderer/**/*.{ts,tsx}'],
    ignores: ['**/*.test.ts', '**/*.test.tsx', 'src-main/lab/**', '**/testing/**'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js', '.mjs'] })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    // The JavaScript tools are type-checked (tsconfig.scripts.json, checkJs): the compiler knows
    // Node's and the page's globals, which `no-undef` does not (typescript-eslint's advice).
    files: ['bench/*.mjs', 'scripts/*.mjs', 'bpf/diag/*.mjs', 'bin/*.mjs'],
    rules: { 'no-undef': 'off' },
  },
  {
    // Asymmetric matchers (expect.objectContaining, expect.any) are typed `any` by vitest.
    files: ['**/*.test.ts', '**/*.test.tsx'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...nodeBuiltins, 'electron', 'react', 'react-dom', 'netlink', 'ws'],
              message: 'shared/ is pure TypeScript.',
            },
            {
              group: ['**/src-main/**', '**/src-renderer/**'],
              message: 'shared/ imports nothing from the hosts.',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests of pure code may use Node to check its output (e.g. `sh -n` on an exported script).
    files: ['shared/**/*.test.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['src-main/**/*.ts'],
    ignores: ['src-main/electron/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['electron'],
              message: 'Only src-main/electron/ may import electron; the engine runs in plain Node.',
            },
            {
              group: ['**/src-renderer/**', 'react', 'react-dom'],
              message: 'src-main/ imports shared/ only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/electron/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/src-renderer/**'], message: 'src-main/ imports shared/ only.' }] },
      ],
    },
  },
  {
    files: ['src-renderer/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...nodeBuiltins, 'electron', 'netlink', 'ws'],
              message: 'The renderer reaches the engine only through the API object.',
            },
            { group: ['**/src-main/**'], message: 'src-renderer/ imports shared/ only.' },
          ],
        },
      ],
    },
  },
);
