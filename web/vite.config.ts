/// <reference types="vitest/config" />
// Build, dev server and test runner settings. The API serves web/dist at '/', so every URL the
// client uses is relative; in development the dev server forwards the API paths to the server.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const api = 'http://127.0.0.1:8000';

export default defineConfig({
  base: '/',
  plugins: [react()],
  server: {
    proxy: {
      '/graphql': { target: api, ws: true },
      '/files': { target: api },
    },
  },
  preview: {
    proxy: {
      '/graphql': { target: api, ws: true },
      '/files': { target: api },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: true,
    // The explorer page alone carries GraphiQL and CodeMirror (~800 kB); the app's own chunk stays small.
    chunkSizeWarningLimit: 900,
    // Two pages: the app and the API explorer (GraphiQL bundled, so it needs no CDN).
    rollupOptions: {
      input: { main: 'index.html', graphiql: 'graphiql.html' },
      // GraphiQL's modules start with React-compiler directives a bundle cannot keep; harmless.
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    // axe over a whole page takes seconds when other builds share the CPU.
    testTimeout: 20000,
  },
});
