// The urql client: queries and mutations over HTTP POST (multipart when variables hold files),
// subscriptions over graphql-ws on the same path.
import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange, type Exchange } from 'urql';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { bearer } from '../lib/auth';
import { persistedExchange, type Manifest } from './persisted';
import trustedDocuments from '../../trusted-documents.json';

/** Where the API answers; relative so the client works wherever the server serves it. */
export const GRAPHQL_PATH = '/graphql';

// The server refuses multipart POSTs without a non-simple header (CSRF guard); sending it on every
// request keeps uploads and plain JSON requests on one code path.
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = { 'Apollo-Require-Preflight': 'true' };

// The websocket must go to the same host and port the page came from, with the matching scheme.
export function wsUrl(loc: Pick<Location, 'protocol' | 'host'>, path: string = GRAPHQL_PATH): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}${path}`;
}

// One lazy websocket for all subscriptions; it reconnects on its own after network blips. The
// token goes in connection_init's payload because browsers cannot set websocket headers.
export function makeWsClient(url: string, token: string | null = null): WsClient {
  const authorization = bearer(token);
  return createWsClient({
    url,
    lazy: true,
    retryAttempts: 5,
    keepAlive: 15_000,
    connectionParams: authorization ? { authorization } : {},
  });
}

/** Options of makeClient; tests override the transports to avoid a network. */
export interface ClientOptions {
  url?: string;
  fetch?: typeof fetch;
  ws?: WsClient | null;
  /** API token, when the server requires one. */
  token?: string | null;
  /** Persisted documents (hash → text); the generated trusted-documents manifest by default. */
  manifest?: Manifest;
  /** Called when the server answers 401, i.e. a token is missing or no longer valid. */
  onUnauthorized?: () => void;
}

// Queries go as POST (not GET) because the server's CSRF rule and logs are simpler that way, and
// urql's built-in multipart support sends File values per the GraphQL multipart request spec.
export function makeClient(options: ClientOptions = {}): Client {
  const token = options.token ?? null;
  const ws = options.ws === undefined ? makeWsClient(wsUrl(window.location), token) : options.ws;
  const onUnauthorized = options.onUnauthorized;
  const exchanges: Exchange[] = [cacheExchange];
  if (onUnauthorized) {
    exchanges.push(
      mapExchange({
        onError(error) {
          if ((error.response as Response | undefined)?.status === 401) onUnauthorized();
        },
      }),
    );
  }
  // Hash first (APQ), so the same client works against a server in trusted-documents mode.
  exchanges.push(persistedExchange(options.manifest ?? (trustedDocuments as Manifest)));
  exchanges.push(fetchExchange);
  if (ws) {
    exchanges.push(
      subscriptionExchange({
        forwardSubscription(request) {
          // The persisted exchange marks subscriptions as a miss, so their document is always here.
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    );
  }
  return new Client({
    url: options.url ?? GRAPHQL_PATH,
    exchanges,
    preferGetMethod: false,
    fetch: options.fetch,
    fetchOptions: () => {
      const authorization = bearer(token);
      return { headers: authorization ? { ...PREFLIGHT_HEADERS, Authorization: authorization } : { ...PREFLIGHT_HEADERS } };
    },
  });
}
