// The start page: create or import a run, and browse runs newest first.
import { useEffect, useState } from 'react';
import { useQuery } from 'urql';
import { RunsDoc } from '../graphql/operations';
import type { RunsQuery } from '../gql/graphql';
import { CreateRunForm } from './CreateRunForm';
import { ImportRunForm } from './ImportRunForm';
import { StatusBadge } from '../components/StatusBadge';
import { formatDateTime, formatUsd } from '../lib/format';
import { runHref } from '../lib/router';
import { AuthImage } from '../components/AuthImage';
import { UsagePanel } from '../components/UsagePanel';

/** Runs fetched per page. */
export const PAGE_SIZE = 12;

type RunNode = RunsQuery['runs']['edges'][number]['node'];

// One card per run; the whole card is a link target through its title link.
export function RunCard({ run }: { run: RunNode }) {
  const thumb = run.images.find((i) => i.url);
  const title = run.prompt?.trim() || 'Untitled run';
  return (
    <li className="run-card card" data-testid="run-card" data-status={run.status} data-run-id={run.id}>
      {thumb?.url ? (
        <AuthImage
          className="run-thumb"
          src={thumb.url}
          displayWidth={400}
          alt=""
          width={thumb.width ?? undefined}
          height={thumb.height ?? undefined}
          loading="lazy"
        />
      ) : (
        <div className="run-thumb run-thumb-empty" aria-hidden="true">
          No image yet
        </div>
      )}
      <div className="run-card-body">
        <h3 className="run-title">
          <a href={runHref(run.id)} className="stretched-link">
            {title}
          </a>
        </h3>
        <p className="run-meta">
          <StatusBadge status={run.status} />
          <span>{run.platform ?? 'No platform'}</span>
          <span>
            {run.images.length} image{run.images.length === 1 ? '' : 's'}
          </span>
        </p>
        <dl className="run-facts">
          <div>
            <dt>Total cost</dt>
            <dd>{formatUsd(run.totalCostUsd)}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>
              <time dateTime={run.createdAt}>{formatDateTime(run.createdAt)}</time>
            </dd>
          </div>
        </dl>
      </div>
    </li>
  );
}

// One page of the connection; the last page offers the next one so pages stack up as
// "load more" without refetching the earlier ones.
function RunsPageChunk({
  after,
  isLast,
  onLoadMore,
}: {
  after: string | null;
  isLast: boolean;
  onLoadMore: (cursor: string) => void;
}) {
  const [{ data, fetching, error }, refetch] = useQuery({
    query: RunsDoc,
    variables: { first: PAGE_SIZE, after },
    requestPolicy: 'cache-and-network',
  });
  if (error && !data) {
    return (
      <li className="notice notice-error" role="alert">
        Could not load runs: {error.message}{' '}
        <button type="button" className="button-small" onClick={() => refetch({ requestPolicy: 'network-only' })}>
          Try again
        </button>
      </li>
    );
  }
  if (!data) {
    return fetching ? <li className="hint">Loading runs…</li> : null;
  }
  const { edges, pageInfo } = data.runs;
  return <RunsChunkItems after={after} edges={edges} pageInfo={pageInfo} isLast={isLast} onLoadMore={onLoadMore} />;
}

type RunsData = RunsQuery['runs'];

// The "Load more" button disappears with its page, so focus moves to the first run it loaded
// instead of falling back to the page body.
function RunsChunkItems({
  after,
  edges,
  pageInfo,
  isLast,
  onLoadMore,
}: {
  after: string | null;
  edges: RunsData['edges'];
  pageInfo: RunsData['pageInfo'];
  isLast: boolean;
  onLoadMore: (cursor: string) => void;
}) {
  const firstId = edges[0]?.node.id;
  useEffect(() => {
    if (after === null || !firstId) return;
    const card = Array.from(document.querySelectorAll<HTMLElement>('[data-run-id]')).find((el) => el.dataset.runId === firstId);
    card?.querySelector<HTMLElement>('a')?.focus();
  }, [after, firstId]);
  return (
    <>
      {after === null && edges.length === 0 && <li className="hint">No runs yet. Create one or import images above.</li>}
      {edges.map((edge) => (
        <RunCard key={edge.node.id} run={edge.node} />
      ))}
      {isLast && pageInfo.hasNextPage && pageInfo.endCursor && (
        <li className="load-more">
          <button type="button" onClick={() => onLoadMore(pageInfo.endCursor!)} data-testid="load-more">
            Load more runs
          </button>
        </li>
      )}
    </>
  );
}

// Cursors of the pages shown so far; the first page has none.
export function RunsPage() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [{ data }] = useQuery({ query: RunsDoc, variables: { first: PAGE_SIZE, after: null } });
  const total = data?.runs.totalCount;
  return (
    <>
      <h1 tabIndex={-1} className="page-title">
        Runs
      </h1>
      <div className="forms-grid">
        <CreateRunForm />
        <ImportRunForm />
      </div>
      <UsagePanel />
      <section aria-labelledby="runs-list-title" className="runs-section">
        <h2 id="runs-list-title">All runs{total !== undefined && <span className="count"> ({total})</span>}</h2>
        <ul className="run-list">
          {cursors.map((after, i) => (
            <RunsPageChunk
              key={after ?? 'first'}
              after={after}
              isLast={i === cursors.length - 1}
              onLoadMore={(cursor) => setCursors((prev) => (prev.includes(cursor) ? prev : [...prev, cursor]))}
            />
          ))}
        </ul>
      </section>
    </>
  );
}
