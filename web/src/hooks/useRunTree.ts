// Loads a run with all of its refinements: the connection is paged (at most 100 a page), so pages
// are followed until the end and merged before the tree is built.
import { useCallback, useEffect, useRef, useState } from 'react';
import { useClient, type OperationResult } from 'urql';
import { RunTreeDoc } from '../graphql/operations';
import type { RefinementFieldsFragment, RunTreeQuery, RunTreeQueryVariables } from '../gql/graphql';

/** The run without its paged connection, plus every refinement. */
export type RunTreeRun = Omit<NonNullable<RunTreeQuery['run']>, 'refinements'>;

/** What the results page renders from. */
export interface RunTree {
  run: RunTreeRun;
  refinements: RefinementFieldsFragment[];
}

/** Result of useRunTree. */
export interface RunTreeState {
  data: RunTree | null;
  notFound: boolean;
  error: string | null;
  fetching: boolean;
  /** Reloads from the network; concurrent calls collapse into the newest. */
  refetch: () => Promise<RunTree | null>;
}

/** Safety stop for the paging loop (100 pages × 100 refinements). */
const MAX_PAGES = 100;

// Network-only on every load: the page is kept live by refetching after progress events, so a
// cached answer would show stale statuses.
export function useRunTree(runId: string): RunTreeState {
  const client = useClient();
  const [data, setData] = useState<RunTree | null>(null);
  const [notFound, setNotFound] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fetching, setFetching] = useState(true);
  const generation = useRef(0);

  const refetch = useCallback(async () => {
    const mine = ++generation.current;
    setFetching(true);
    try {
      let after: string | null = null;
      let run: RunTreeRun | null = null;
      const refinements: RefinementFieldsFragment[] = [];
      for (let page = 0; page < MAX_PAGES; page++) {
        const result: OperationResult<RunTreeQuery, RunTreeQueryVariables> = await client
          .query(RunTreeDoc, { id: runId, after }, { requestPolicy: 'network-only' })
          .toPromise();
        if (mine !== generation.current) return null;
        if (result.error) throw new Error(result.error.message);
        const fetched = result.data?.run;
        if (!fetched) {
          setNotFound(true);
          setData(null);
          setError(null);
          return null;
        }
        const { refinements: connection, ...rest } = fetched;
        if (!run) run = rest;
        for (const edge of connection.edges) refinements.push(edge.node);
        if (!connection.pageInfo.hasNextPage || !connection.pageInfo.endCursor) break;
        after = connection.pageInfo.endCursor;
      }
      const tree = { run: run!, refinements };
      setData(tree);
      setNotFound(false);
      setError(null);
      return tree;
    } catch (err) {
      if (mine === generation.current) setError(err instanceof Error ? err.message : String(err));
      return null;
    } finally {
      if (mine === generation.current) setFetching(false);
    }
  }, [client, runId]);

  useEffect(() => {
    setData(null);
    setNotFound(false);
    void refetch();
  }, [refetch]);

  return { data, notFound, error, fetching, refetch };
}
