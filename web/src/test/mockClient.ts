// An urql client whose answers come from per-operation handlers, so components run against real
// urql hooks without a network.
import { Client, getOperationName, makeResult, type Exchange, type ExecutionResult, type Operation } from 'urql';
import { filter, fromValue, makeSubject, map, mergeMap, pipe, share, takeUntil, type Source } from 'wonka';

/** Answers one operation: a single result, or a source of results (subscriptions). */
export type Handler = (op: Operation) => ExecutionResult | Source<ExecutionResult>;

/** The client plus every operation it received, for assertions. */
export interface MockClient {
  client: Client;
  operations: Operation[];
  named: (name: string) => Operation[];
}

// Unknown operations answer `{ data: null }` so a missing handler shows up as an empty page
// rather than a hang.
export function mockClient(handlers: Record<string, Handler>): MockClient {
  const operations: Operation[] = [];
  const exchange: Exchange = () => (ops$) => {
    const shared = pipe(ops$, share);
    return pipe(
      shared,
      filter((op) => op.kind !== 'teardown'),
      mergeMap((op) => {
        operations.push(op);
        const name = getOperationName(op.query) ?? '';
        const handler = handlers[name];
        const out = handler ? handler(op) : { data: null };
        const source: Source<ExecutionResult> = typeof out === 'function' ? out : fromValue(out);
        const teardown$ = pipe(
          shared,
          filter((o) => o.kind === 'teardown' && o.key === op.key),
        );
        return pipe(
          source,
          map((result) => makeResult(op, result)),
          takeUntil(teardown$),
        );
      }),
    );
  };
  const client = new Client({ url: '/graphql', exchanges: [exchange] });
  return {
    client,
    operations,
    named: (name) => operations.filter((op) => getOperationName(op.query) === name),
  };
}

// A subscription feed the test pushes events into.
export function feed() {
  const subject = makeSubject<ExecutionResult>();
  return { source: subject.source, push: (data: Record<string, unknown>) => subject.next({ data }), end: subject.complete };
}
