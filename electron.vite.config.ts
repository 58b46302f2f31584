import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';

// `npm start` builds with this when an Electron runtime is available. The renderer is the same
// one the web host serves (the window loads it over the mptcp-studio:// scheme, app-protocol.ts);
// main and preload bundle the engine and the contract.
export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      rollupOptions: {
        // The netlink events reader and the sock_diag dump workers run files of their own in
        // worker threads (worker-entry.ts finds out/main/<name>.js beside main.js).
        input: {
          main: resolve(import.meta.dirname, 'src-main/electron/main.ts'),
          'event-reader-worker': resolve(
            import.meta.dirname,
            'src-main/engine/netlink/event-reader-worker.ts',
          ),
          // The sock_diag dump workers' program (diag/dump-worker-thread.ts), found the same way.
          'dump-worker': resolve(import.meta.dirname, 'src-main/engine/diag/dump-worker-thread.ts'),
        },
        // The native binding stays in node_modules (asarUnpack). ws is not in main's graph: the
        // web host is not imported there (security.test.ts checks).
        external: ['netlink'],
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      rollupOptions: {
        input: resolve(import.meta.dirname, 'src-main/electron/preload.ts'),
        output: { format: 'cjs', entryFileNames: 'index.cjs' },
      },
    },
  },
  renderer: {
    root: 'src-renderer',
    plugins: [react()],
    build: {
      outDir: 'out/renderer',
      // As vite.renderer.config.ts: no modulepreload polyfill (it would be an inline script).
      modulePreload: { polyfill: false },
      rollupOptions: { input: resolve(import.meta.dirname, 'src-renderer/index.html') },
    },
  },
});
