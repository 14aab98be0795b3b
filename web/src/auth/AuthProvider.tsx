// Holds the optional API token and the urql client built for it: a new token means a new client
// and websocket, so every query and subscription re-runs with the new credentials.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { Provider } from 'urql';
import { makeClient, makeWsClient, wsUrl } from '../graphql/client';
import { loadToken, saveToken } from '../lib/auth';

/** What components can read and do about the token. */
export interface AuthState {
  token: string | null;
  setToken: (token: string | null) => void;
  /** The server answered 401: a token is needed or the one given was refused. */
  unauthorized: boolean;
}

const AuthContext = createContext<AuthState>({ token: null, setToken: () => undefined, unauthorized: false });

// Without a provider (tests, storybook-like harnesses) there is simply no token.
export function useAuth(): AuthState {
  return useContext(AuthContext);
}

// Wraps the app once, in main.tsx.
export function AuthProvider({ children }: { children: ReactNode }) {
  const [token, setTokenState] = useState<string | null>(loadToken);
  const [unauthorized, setUnauthorized] = useState(false);

  const { client, ws } = useMemo(() => {
    const ws = makeWsClient(wsUrl(window.location), token);
    return { ws, client: makeClient({ token, ws, onUnauthorized: () => setUnauthorized(true) }) };
  }, [token]);

  useEffect(() => () => void ws.dispose(), [ws]);

  const setToken = useCallback((next: string | null) => {
    saveToken(next);
    setUnauthorized(false);
    setTokenState(next && next.trim() ? next.trim() : null);
  }, []);

  const value = useMemo(() => ({ token, setToken, unauthorized }), [token, setToken, unauthorized]);
  return (
    <AuthContext.Provider value={value}>
      <Provider value={client}>{children}</Provider>
    </AuthContext.Provider>
  );
}
