// Test environment: unmount React trees between tests (vitest runs without globals, so
// Testing Library cannot register this itself).
import { afterEach } from 'vitest';
import { cleanup } from '@testing-library/react';

afterEach(() => {
  cleanup();
});

// axe-core probes canvas support; jsdom has none and would log "Not implemented" for each scan.
if (typeof HTMLCanvasElement !== 'undefined') {
  HTMLCanvasElement.prototype.getContext = (() => null) as typeof HTMLCanvasElement.prototype.getContext;
}
