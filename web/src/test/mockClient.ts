// An urql client whose answers come from per-operation handlers, so components run against real
// urql hooks without a network.
import { Client, getOperationName, makeResult, type Exchange, type ExecutionResult, type Operation } from 'urql';
import { filter, fromValue, make, map, mergeMap, pipe, share, takeUntil, type Observer, type Source } from 'wonka';

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

// A subscription feed the test pushes events into. What is pushed before urql has subscribed (its effects
// may run after the element a test waited for appears) is held for the first subscriber, as the server's
// history replay would deliver it, instead of being dropped.
export function feed() {
  const observers = new Set<Observer<ExecutionResult>>();
  const held: Array<ExecutionResult | null> = [];
  const deliver = (observer: Observer<ExecutionResult>, item: ExecutionResult | null) =>
    item === null ? observer.complete() : observer.next(item);
  const source = make<ExecutionResult>((observer) => {
    observers.add(observer);
    for (const item of held.splice(0)) deliver(observer, item);
    return () => observers.delete(observer);
  });
  const send = (item: ExecutionResult | null) => {
    if (observers.size === 0) held.push(item);
    else for (const observer of [...observers]) deliver(observer, item);
  };
  return { source, push: (data: Record<string, unknown>) => send({ data }), end: () => send(null) };
}
