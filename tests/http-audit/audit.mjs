// Runs graphql-http's server audit against a live server and prints one JSON line per audit.
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql [bearer-token]
import { serverAudits } from 'graphql-http';

const [url, token] = process.argv.slice(2);
// The audit's requests carry no Authorization header; a token (when the server requires one) is added here.
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason ?? null });
}
process.stdout.write(JSON.stringify(results) + '\n');
