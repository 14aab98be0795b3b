// Page shell: skip link, header with navigation, and the routed page inside <main>.
import { useEffect, useRef, useState } from 'react';
import { useAuth } from './auth/AuthProvider';
import { TokenDialog } from './auth/TokenDialog';
import { useHashRoute } from './lib/router';
import { RunsPage } from './pages/RunsPage';
import { RunPage } from './pages/RunPage';
import { JobsPanel } from './jobs/JobsPanel';

// Focus moves to the new page's heading on navigation so screen-reader and keyboard users
// start reading where the content changed, as they would after a full page load.
export function App() {
  const route = useHashRoute();
  const { token, unauthorized } = useAuth();
  const [tokenDialog, setTokenDialog] = useState(false);
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);
  const routeKey = route.name === 'run' ? `run:${route.id}:${route.image ?? ''}` : route.name;

  useEffect(() => {
    if (route.name !== 'run') document.title = route.name === 'runs' ? 'Runs · churns' : 'Not found · churns';
    if (first.current) {
      first.current = false;
      return;
    }
    const heading = mainRef.current?.querySelector<HTMLElement>('h1');
    heading?.focus();
    window.scrollTo?.(0, 0);
  }, [routeKey, route.name]);

  return (
    <>
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          mainRef.current?.focus();
        }}
      >
        Skip to main content
      </a>
      <header className="site-header">
        <div className="container header-inner">
          <a className="brand" href="#/">
            <span className="brand-mark" aria-hidden="true">
              c
            </span>
            churns
          </a>
          <nav aria-label="Main">
            <ul className="nav-list">
              <li>
                <a href="#/" aria-current={route.name === 'runs' ? 'page' : undefined}>
                  Runs
                </a>
              </li>
              <li>
                <a href="/graphql" aria-label="API explorer">
                  API<span className="nav-long"> explorer</span>
                </a>
              </li>
              <li>
                <button
                  type="button"
                  className="header-button"
                  onClick={() => setTokenDialog(true)}
                  data-testid="token-button"
                  aria-label={token ? 'API token (set)' : 'API token'}
                >
                  <span className="nav-long">API </span>token{token ? ' ✓' : ''}
                </button>
              </li>
            </ul>
          </nav>
        </div>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1} className="container">
        {unauthorized && (
          <div className="notice notice-error auth-banner" role="alert" data-testid="auth-banner">
            {token ? 'The server refused the API token.' : 'This server requires an API token.'}{' '}
            <button type="button" className="button-small" onClick={() => setTokenDialog(true)}>
              Enter API token
            </button>
          </div>
        )}
        <JobsPanel />
        {route.name === 'runs' && <RunsPage />}
        {route.name === 'run' && <RunPage key={route.id} runId={route.id} imageIndex={route.image} />}
        {route.name === 'notFound' && (
          <>
            <h1 tabIndex={-1} className="page-title">
              Page not found
            </h1>
            <p>
              Nothing lives at <code>{route.path}</code>. <a href="#/">Go to all runs</a>
            </p>
          </>
        )}
      </main>
      {tokenDialog && <TokenDialog onClose={() => setTokenDialog(false)} />}
      <footer className="site-footer">
        <div className="container">
          <p>churns — AI marketing images and their refinements.</p>
        </div>
      </footer>
    </>
  );
}
