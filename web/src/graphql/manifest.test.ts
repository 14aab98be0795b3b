// @vitest-environment node
// The trusted-documents manifest (web/trusted-documents.json) is made from the operations here:
// `npm run manifest` rewrites it, and this test fails when it is stale.
import { describe, expect, it } from 'vitest';
import type { DocumentNode } from 'graphql';
import * as operations from './operations';
import { wireText, type Manifest } from './persisted';

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Every operation of operations.ts, keyed by the SHA-256 of the text the client sends. */
async function buildManifest(): Promise<Manifest> {
  const entries: [string, string][] = [];
  for (const doc of Object.values(operations) as DocumentNode[]) {
    const text = wireText(doc);
    if (text !== undefined) entries.push([await sha256(text), text]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : 1));
  return Object.fromEntries(entries);
}

describe('trusted-documents manifest', () => {
  it('matches the operations (run `npm run manifest` after changing one)', async () => {
    await expect(JSON.stringify(await buildManifest(), null, 2) + '\n').toMatchFileSnapshot('../../trusted-documents.json');
  });

  it('holds every operation of the client, fragments only inside them', async () => {
    const texts = Object.values(await buildManifest());
    const operationDocs = Object.values(operations).filter((d) => wireText(d as DocumentNode) !== undefined);
    expect(texts).toHaveLength(operationDocs.length);
    expect(texts.every((t) => /^(query|mutation|subscription) \w+/.test(t))).toBe(true);
  });
});
