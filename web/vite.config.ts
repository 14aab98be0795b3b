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
