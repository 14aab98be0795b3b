import { describe, expect, it, vi } from 'vitest';
import { makeClient, wsUrl } from './client';
import { ImportRunDoc, RunsDoc } from './operations';
import { needsAuth } from '../lib/auth';

describe('websocket URL', () => {
  it('follows the page scheme and host', () => {
    expect(wsUrl({ protocol: 'http:', host: '127.0.0.1:8000' })).toBe('ws://127.0.0.1:8000/graphql');
    expect(wsUrl({ protocol: 'https:', host: 'example.test' })).toBe('wss://example.test/graphql');
  });
});

// A fetch stand-in that records what the client sent.
function recordingFetch() {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetchFn = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return new Response(
      JSON.stringify({ data: { importRun: { run: { id: 'r1', status: 'COMPLETED', __typename: 'Run' }, userErrors: [] } } }),
      {
        status: 200,
        headers: { 'Content-Type': 'application/json' },
      },
    );
  });
  return { calls, fetchFn };
}

describe('HTTP transport', () => {
  it('sends files as a GraphQL multipart request with the preflight header', async () => {
    const { calls, fetchFn } = recordingFetch();
    const client = makeClient({ fetch: fetchFn as unknown as typeof fetch, ws: null });
    const a = new File([new Uint8Array([137, 80, 78, 71])], 'a.png', { type: 'image/png' });
    const b = new File([new Uint8Array([255, 216, 255])], 'b.jpg', { type: 'image/jpeg' });
    const result = await client.mutation(ImportRunDoc, { input: { images: [a, b], prompt: 'x' } }).toPromise();
    expect(result.data?.importRun.run?.id).toBe('r1');
    expect(calls).toHaveLength(1);
    const { url, init } = calls[0];
    expect(url).toBe('/graphql');
    expect(init.method).toBe('POST');
    const headers = init.headers as Record<string, string>;
    expect(headers['apollo-require-preflight']).toBe('true');
    expect(headers['content-type']).toBeUndefined();
    const body = init.body as FormData;
    expect(body).toBeInstanceOf(FormData);
    const operations = JSON.parse(String(body.get('operations')));
    expect(operations.variables.input.images).toEqual([null, null]);
    expect(JSON.parse(String(body.get('map')))).toEqual({ 0: ['variables.input.images.0'], 1: ['variables.input.images.1'] });
    expect((body.get('0') as File).name).toBe('a.png');
    expect((body.get('1') as File).name).toBe('b.jpg');
  });

  it('sends queries as JSON POST, not GET', async () => {
    const { calls, fetchFn } = recordingFetch();
    const client = makeClient({ fetch: fetchFn as unknown as typeof fetch, ws: null });
    await client.query(RunsDoc, { first: 5, after: null }).toPromise();
    expect(calls[0].init.method).toBe('POST');
    expect((calls[0].init.headers as Record<string, string>)['content-type']).toBe('application/json');
    expect(JSON.parse(String(calls[0].init.body)).variables).toEqual({ first: 5, after: null });
  });
});

describe('API token', () => {
  it('is sent as a bearer Authorization header when set', async () => {
    const { calls, fetchFn } = recordingFetch();
    const client = makeClient({ fetch: fetchFn as unknown as typeof fetch, ws: null, token: 'churns_abc' });
    await client.query(RunsDoc, { first: 5, after: null }).toPromise();
    const headers = calls[0].init.headers as Record<string, string>;
    expect(headers['authorization']).toBe('Bearer churns_abc');
    expect(headers['apollo-require-preflight']).toBe('true');
  });

  it('reports a 401 so the app can ask for a token', async () => {
    const onUnauthorized = vi.fn();
    const fetchFn = vi.fn(
      async () =>
        new Response(
          JSON.stringify({ errors: [{ message: 'an API token is required', extensions: { code: 'UNAUTHENTICATED' } }] }),
          {
            status: 401,
            headers: { 'Content-Type': 'application/json' },
          },
        ),
    );
    const client = makeClient({ fetch: fetchFn as unknown as typeof fetch, ws: null, onUnauthorized });
    const result = await client.query(RunsDoc, { first: 5, after: null }).toPromise();
    expect(result.error).toBeTruthy();
    expect(onUnauthorized).toHaveBeenCalled();
  });

  it('only /files URLs need the token', () => {
    expect(needsAuth('/files/runs/x/originals/image_0.png', 't')).toBe(true);
    expect(needsAuth('/files/runs/x/originals/image_0.png', null)).toBe(false);
    expect(needsAuth('blob:http://x/abc', 't')).toBe(false);
  });
});
