// The API explorer: GraphiQL on this server's /graphql, sending the token the app saved, with a bar
// linking back to the app. Subscriptions use the app's websocket client and the same token.
import { useEffect, useMemo, useRef } from 'react';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { bearer, loadToken } from '../lib/auth';
import { GRAPHQL_PATH, makeWsClient, wsUrl } from '../graphql/client';
import { watchGraphiql } from './a11y';

/** Request headers every explorer request carries (the token is never shown in the headers editor). */
export function explorerHeaders(token: string | null): Record<string, string> {
  const authorization = bearer(token);
  return authorization ? { Authorization: authorization } : {};
}

// One fetcher per page load; a token changed in the app applies after a reload of the explorer.
export function ExplorerPage() {
  const token = loadToken();
  const fetcher = useMemo(
    () =>
      createGraphiQLFetcher({
        url: GRAPHQL_PATH,
        headers: explorerHeaders(token),
        wsClient: makeWsClient(wsUrl(window.location), token),
      }),
    [token],
  );
  const mainRef = useRef<HTMLElement>(null);
  useEffect(() => (mainRef.current ? watchGraphiql(mainRef.current) : undefined), []);
  return (
    <div className="explorer">
      <header className="explorer-bar">
        <a className="explorer-back" href="/" data-testid="back-to-app">
          ← Back to the app
        </a>
        <span className="explorer-token" data-testid="explorer-token">
          {token ? 'Sending your API token' : 'No API token set'}
        </span>
      </header>
      <main className="explorer-main" ref={mainRef}>
        <GraphiQL fetcher={fetcher} defaultEditorToolsVisibility={false} />
      </main>
    </div>
  );
}
