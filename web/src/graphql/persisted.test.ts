import { describe, expect, it, vi } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { makeClient } from './client';
import { RunProgressDoc, RunsDoc } from './operations';
import { wireText } from './persisted';
import trustedDocuments from '../../trusted-documents.json';

const runsText = wireText(RunsDoc)!;
const runsHash = Object.entries(trustedDocuments as Record<string, string>).find(([, text]) => text === runsText)![0];
const page = {
  runs: {
    totalCount: 0,
    pageInfo: { hasNextPage: false, endCursor: null, __typename: 'PageInfo' },
    edges: [],
    __typename: 'RunConnection',
  },
};

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
}

// A server that knows no hash until the document comes with it, as an APQ server starts out.
function apqServer() {
  const bodies: Record<string, unknown>[] = [];
  const known = new Set<string>();
  const fetchFn = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body));
    bodies.push(body);
    const hash = body.extensions?.persistedQuery?.sha256Hash;
    if (body.query === undefined && !known.has(hash)) {
      return json({ errors: [{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }] });
    }
    known.add(hash);
    return json({ data: page });
  });
  return { bodies, fetchFn };
}

describe('persisted queries', () => {
  it('sends the hash alone, then hash and document after PersistedQueryNotFound, then the hash alone', async () => {
    const { bodies, fetchFn } = apqServer();
    const client = makeClient({ fetch: fetchFn as unknown as typeof fetch, ws: null });
    const first = await client.query(RunsDoc, { first: 5, after: null }, { requestPolicy: 'network-only' }).toPromise();
    expect(first.error).toBeUndefined();
    expect(first.data?.runs.totalCount).toBe(0);
    expect(bodies).toHaveLength(2);
    expect(bodies[0].query).toBeUndefined();
    expect(bodies[0].extensions).toEqual({ persistedQuery: { version: 1, sha256Hash: runsHash } });
    expect(bodies[1].query).toBe(runsText);
    expect((bodies[1].extensions as { persistedQuery: { sha256Hash: string } }).persistedQuery.sha256Hash).toBe(runsHash);
    await client.query(RunsDoc, { first: 5, after: null }, { requestPolicy: 'network-only' }).toPromise();
    expect(bodies).toHaveLength(3);
    expect(bodies[2].query).toBeUndefined();
  });

  it('does not retry a second miss forever', async () => {
    const fetchFn = vi.fn(async () =>
      json({ errors: [{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }] }),
    );
    const client = makeClient({ fetch: fetchFn as unknown as typeof fetch, ws: null });
    const result = await client.query(RunsDoc, { first: 5, after: null }).toPromise();
    expect(fetchFn).toHaveBeenCalledTimes(2);
    expect(result.error?.graphQLErrors[0].extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('sends subscriptions with their document and its hash (graphql-ws needs a query)', async () => {
    const payloads: Record<string, unknown>[] = [];
    const ws = {
      subscribe: (payload: Record<string, unknown>, sink: { complete: () => void }) => {
        payloads.push(payload);
        sink.complete();
        return () => {};
      },
    } as unknown as WsClient;
    const client = makeClient({ fetch: vi.fn() as unknown as typeof fetch, ws });
    await new Promise<void>((resolve) => {
      const { unsubscribe } = client.subscription(RunProgressDoc, { id: 'r1' }).subscribe(() => {});
      setTimeout(() => {
        unsubscribe();
        resolve();
      }, 20);
    });
    const text = wireText(RunProgressDoc)!;
    expect(payloads[0].query).toBe(text);
    const hash = Object.entries(trustedDocuments as Record<string, string>).find(([, t]) => t === text)![0];
    expect((payloads[0].extensions as { persistedQuery: { sha256Hash: string } }).persistedQuery.sha256Hash).toBe(hash);
  });
});
