// The optional API token. The server turns auth on as soon as any token exists; then every
// request (HTTP, websocket, /files) must carry "Authorization: Bearer <token>".

const STORAGE_KEY = 'churns.apiToken';

// localStorage can throw (private mode, disabled storage); the app then simply has no token.
export function loadToken(): string | null {
  try {
    const value = window.localStorage.getItem(STORAGE_KEY);
    return value && value.trim() ? value.trim() : null;
  } catch {
    return null;
  }
}

// Persisted so a reload keeps working; an empty value forgets the token.
export function saveToken(token: string | null): void {
  try {
    if (token && token.trim()) window.localStorage.setItem(STORAGE_KEY, token.trim());
    else window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage unavailable: the token lives only as long as the page.
  }
}

// The header value the server's token gate parses.
export function bearer(token: string | null | undefined): string | null {
  return token ? `Bearer ${token}` : null;
}

// Only the API's own file URLs need the token; anything else (blob: previews) is left alone.
export function needsAuth(url: string, token: string | null | undefined): boolean {
  return !!token && url.startsWith('/files/');
}
