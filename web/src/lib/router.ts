// Hash routing (#/runs/:id) so the built files work from any static server without a fallback
// to index.html.
import { useEffect, useState } from 'react';

/** The pages the app can show. */
export type Route =
  | { name: 'runs' }
  | { name: 'run'; id: string; image?: number }
  | { name: 'notFound'; path: string };

// Run ids are opaque global ids that may hold '/', '=' or '+', hence the URI encoding.
export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  if (path === '/' || path === '/runs' || path === '/runs/') return { name: 'runs' };
  const match = /^\/runs\/([^/]+)(?:\/images\/(\d+))?$/.exec(path);
  if (match) {
    try {
      const id = decodeURIComponent(match[1]);
      return match[2] === undefined ? { name: 'run', id } : { name: 'run', id, image: Number(match[2]) };
    } catch {
      return { name: 'notFound', path };
    }
  }
  return { name: 'notFound', path };
}

// Links are built in one place so parseHash can always read them back.
export function runHref(id: string): string {
  return `#/runs/${encodeURIComponent(id)}`;
}

// The large view of one original (0-based generation index) and its versions.
export function imageHref(runId: string, generationIndex: number): string {
  return `${runHref(runId)}/images/${generationIndex}`;
}

// Programmatic navigation, e.g. after a run was created or imported.
export function navigate(href: string): void {
  window.location.hash = href.replace(/^#/, '');
}

// Re-renders on every hash change so the back button works like page navigation.
export function useHashRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
