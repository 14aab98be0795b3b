// Persisted documents, sent the way Apollo's persisted-query link sends them: the hash first, the
// document only when the server answers PersistedQueryNotFound. The hashes come from the trusted-
// documents manifest (web/trusted-documents.json), so the browser never hashes anything and the
// server can run in trusted mode with that same manifest.
import { formatDocument, makeOperation, stringifyDocument, type Exchange, type Operation, type OperationResult } from 'urql';
import { Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { filter, makeSubject, map, merge, onPush, pipe, share } from 'wonka';

/** The error code the server (like Apollo Server) gives an unknown hash. */
export const NOT_FOUND_CODE = 'PERSISTED_QUERY_NOT_FOUND';

/** A manifest: the hex SHA-256 of each document's text → that text, exactly as the client sends it. */
export type Manifest = Record<string, string>;

function operationOf(doc: DocumentNode): OperationDefinitionNode | undefined {
  return doc.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
}

/**
 * The text urql puts on the wire for a document: queries and mutations pass the cache exchange,
 * which adds `__typename` to every selection; subscriptions go out as written.
 */
export function wireText(doc: DocumentNode): string | undefined {
  const operation = operationOf(doc);
  if (!operation) return undefined;
  return stringifyDocument(operation.operation === 'subscription' ? doc : formatDocument(doc));
}

function isMiss(result: OperationResult): boolean {
  return !!result.error?.graphQLErrors.some((e) => e.extensions?.code === NOT_FOUND_CODE);
}

function withHash(operation: Operation, sha256Hash: string, miss: boolean): Operation {
  const persistedQuery = miss ? { version: 1 as const, sha256Hash, miss: true } : { version: 1 as const, sha256Hash };
  const next = makeOperation(operation.kind, operation);
  next.extensions = { ...operation.extensions, persistedQuery };
  return next;
}

/**
 * Sends operations of the manifest by hash alone; on PersistedQueryNotFound it sends them again with
 * the document, which registers it (APQ). Subscriptions always carry the document too: graphql-ws
 * requires a `query` string. Documents outside the manifest go out as they are.
 */
export function persistedExchange(manifest: Manifest): Exchange {
  const hashes = new Map(Object.entries(manifest).map(([hash, text]) => [text, hash]));
  const hashed = (operation: Operation): Operation => {
    if (operation.kind === 'teardown') return operation;
    const hash = hashes.get(stringifyDocument(operation.query));
    return hash ? withHash(operation, hash, operation.kind === 'subscription') : operation;
  };
  return ({ forward }) =>
    (operations$) => {
      const retries = makeSubject<Operation>();
      const results$ = share(forward(merge([pipe(operations$, map(hashed)), retries.source])));
      const missed = (r: OperationResult) =>
        isMiss(r) && !!r.operation.extensions?.persistedQuery && !r.operation.extensions.persistedQuery.miss;
      return merge([
        pipe(
          results$,
          filter((r) => !missed(r)),
        ),
        pipe(
          results$,
          filter(missed),
          onPush((r) => retries.next(withHash(r.operation, String(r.operation.extensions?.persistedQuery?.sha256Hash), true))),
          filter(() => false),
        ),
      ]);
    };
}
