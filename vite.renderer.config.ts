import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';

// The renderer as a plain static site: the web host serves out/renderer, and Electron serves the
// same files from its own mptcp-studio://app scheme (src-main/electron/app-protocol.ts); the
// relative base works for both. No inline scripts: index.html carries a strict CSP that allows
// only 'self' scripts.
export default defineConfig({
  root: resolve(import.meta.dirname, 'src-renderer'),
  base: './',
  plugins: [react()],
  build: {
    outDir: resolve(import.meta.dirname, 'out/renderer'),
    emptyOutDir: true,
    // Keep the modulepreload polyfill out of index.html (it would be an inline script under CSP).
    modulePreload: { polyfill: false },
  },
});
