import type { ESLint } from 'eslint';

/** The layer of a repository-relative path (see layers.js). */
export function layerOf(rel: string): string;
declare const plugin: ESLint.Plugin;
export default plugin;
