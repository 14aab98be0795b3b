// The results page of one run: the originals' gallery or one original's large view, costs, all kept live.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useClient } from 'urql';
import { pipe, subscribe } from 'wonka';
import { RunProgressDoc } from '../graphql/operations';
import type { ProgressEventFieldsFragment } from '../gql/graphql';
import { useRunTree } from '../hooks/useRunTree';
import { ProgressBar } from '../components/ProgressBar';
import { StatusBadge } from '../components/StatusBadge';
import { RefineModal } from '../refine/RefineModal';
import { RefinementDetails } from '../details/RefinementDetails';
import type { LiveProgress, RefineTarget } from './RefinementCard';
import { Gallery } from '../gallery/Gallery';
import { ImageViewer } from '../gallery/ImageViewer';
import { runHref } from '../lib/router';
import { childrenByParent, flattenTree } from '../lib/versionTree';
import { formatDateTime, formatUsd, humanizeStage, isActive } from '../lib/format';

/** Events arriving closer together than this cause a single refetch. */
const REFETCH_DEBOUNCE_MS = 250;
/** Longest wait for the refetched tree before the finished refinement's dialog closes anyway. */
const COMPLETE_WAIT_MS = 3000;
/** Polling interval while the websocket is unavailable and some job is still running. */
const POLL_MS = 4000;

// Latest event per job, its progress never going back. A completed job stays at 100 % until the
// refetched tree shows it finished (dropping it would draw 0 % in between); a job that failed or was
// cancelled is dropped because its card then shows the final status.
export function applyLiveEvent(
  map: Record<string, LiveProgress>,
  event: ProgressEventFieldsFragment,
): Record<string, LiveProgress> {
  const previous = map[event.jobId];
  if (event.terminal && event.status === 'COMPLETED') {
    return { ...map, [event.jobId]: { progress: 1, stage: previous?.stage ?? 'Finishing' } };
  }
  if (event.terminal) {
    if (!previous) return map;
    const next = { ...map };
    delete next[event.jobId];
    return next;
  }
  const stage = event.stage === 'job' ? (previous?.stage ?? 'Starting') : humanizeStage(event.stage);
  return { ...map, [event.jobId]: { progress: Math.max(previous?.progress ?? 0, event.progress), stage } };
}

// The id comes from the hash route; everything else is fetched.
export function RunPage({ runId, imageIndex }: { runId: string; imageIndex?: number }) {
  const client = useClient();
  const { data, notFound, error, fetching, refetch } = useRunTree(runId);
  const [live, setLive] = useState<Record<string, LiveProgress>>({});
  const [liveBroken, setLiveBroken] = useState(false);
  const [refineTarget, setRefineTarget] = useState<RefineTarget | null>(null);
  const [detailsId, setDetailsId] = useState<string | null>(null);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState('');
  const pendingFocus = useRef<string | null>(null);
  const timer = useRef<number | null>(null);

  const scheduleRefetch = useCallback(() => {
    if (timer.current !== null) window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      timer.current = null;
      void refetch();
    }, REFETCH_DEBOUNCE_MS);
  }, [refetch]);

  useEffect(
    () => () => {
      if (timer.current !== null) window.clearTimeout(timer.current);
    },
    [],
  );

  // Every event of the run or any of its refinements triggers a network-only refetch of the tree.
  useEffect(() => {
    setLiveBroken(false);
    setLive({});
    const { unsubscribe } = pipe(
      client.subscription(RunProgressDoc, { id: runId }),
      subscribe((result) => {
        if (result.error) {
          setLiveBroken(true);
          return;
        }
        const event = result.data?.runProgress;
        if (!event) return;
        setLive((prev) => applyLiveEvent(prev, event));
        scheduleRefetch();
      }),
    );
    return unsubscribe;
  }, [client, runId, scheduleRefetch]);

  const anyActive = !!data && (isActive(data.run.status) || data.refinements.some((r) => isActive(r.status)));

  useEffect(() => {
    if (!liveBroken || !anyActive) return;
    const id = window.setInterval(() => void refetch(), POLL_MS);
    return () => window.clearInterval(id);
  }, [liveBroken, anyActive, refetch]);

  // After a refinement completes the dialog closes and focus goes to the new card once the
  // refetched tree has rendered it.
  useEffect(() => {
    const id = pendingFocus.current;
    if (!id || !data) return;
    const card = Array.from(document.querySelectorAll<HTMLElement>('[data-refinement-id]')).find(
      (el) => el.dataset.refinementId === id,
    );
    if (card) {
      pendingFocus.current = null;
      setSelectedId(id);
      card.focus();
      card.scrollIntoView?.({ block: 'nearest' });
    }
  }, [data, refineTarget]);

  const trees = useMemo(() => {
    if (!data) return [];
    const children = childrenByParent(data.run.images, data.refinements);
    return data.run.images.map((image) => ({ image, rows: flattenTree(image.id, image.version, children) }));
  }, [data]);

  useEffect(() => {
    if (data) document.title = `${data.run.prompt?.trim() || 'Run'} · churns`;
  }, [data]);

  if (notFound) {
    return (
      <>
        <h1 tabIndex={-1} className="page-title">
          Run not found
        </h1>
        <p>
          There is no run with this id. <a href="#/">Back to all runs</a>
        </p>
      </>
    );
  }

  if (!data) {
    return (
      <>
        <h1 tabIndex={-1} className="page-title">
          Run results
        </h1>
        {error ? (
          <p className="notice notice-error" role="alert">
            Could not load the run: {error}{' '}
            <button type="button" className="button-small" onClick={() => void refetch()}>
              Try again
            </button>
          </p>
        ) : (
          <p>{fetching ? 'Loading…' : ''}</p>
        )}
      </>
    );
  }

  const { run } = data;
  const generation = live[run.id];
  const viewed = imageIndex === undefined ? undefined : trees.find((t) => t.image.generationIndex === imageIndex);
  const viewedLabel = viewed ? `Original ${viewed.image.generationIndex + 1}` : null;

  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <ol>
          <li>
            <a href="#/">Runs</a>
          </li>
          {viewedLabel ? (
            <>
              <li>
                <a href={runHref(run.id)}>Run results</a>
              </li>
              <li aria-current="page">{viewedLabel}</li>
            </>
          ) : (
            <li aria-current="page">Run results</li>
          )}
        </ol>
      </nav>
      {viewed ? (
        <div className="viewer-heading">
          <h1 tabIndex={-1} className="page-title">
            {viewedLabel}
          </h1>
          <p className="run-line" data-testid="run-line">
            <span className="run-prompt">{run.prompt?.trim() || 'No prompt'}</span>
            <StatusBadge status={run.status} progress={generation?.progress} />
            <span>
              Total cost <span data-testid="total-cost">{formatUsd(run.totalCostUsd)}</span>
            </span>
          </p>
        </div>
      ) : (
        <h1 tabIndex={-1} className="page-title">
          Run results
        </h1>
      )}
      {!viewed && (
        <div className="run-header">
          <div className="run-summary">
            <p className="run-prompt">{run.prompt?.trim() || 'No prompt'}</p>
            <p className="run-meta">
              <StatusBadge status={run.status} progress={generation?.progress} />
              <span>{run.platform ?? 'No platform'}</span>
              <span>
                Created <time dateTime={run.createdAt}>{formatDateTime(run.createdAt)}</time>
              </span>
            </p>
            {isActive(run.status) && (
              <ProgressBar
                value={generation?.progress ?? 0}
                label="Generation progress"
                valueText={generation?.stage ?? 'Waiting for a worker'}
                testId="run-progress-bar"
              />
            )}
            {run.status === 'FAILED' && run.errorMessage && (
              <p className="notice notice-error">
                <strong>Generation failed:</strong> {run.errorMessage}
              </p>
            )}
            {liveBroken && (
              <p className="hint">Live updates are unavailable{anyActive ? '; refreshing every few seconds' : ''}.</p>
            )}
          </div>
          <section className="cost-summary card" aria-labelledby="cost-title" data-testid="cost-summary">
            <h2 id="cost-title">Cost so far</h2>
            <dl>
              <div>
                <dt>Generation</dt>
                <dd data-testid="generation-cost">{formatUsd(run.generationCostUsd)}</dd>
              </div>
              <div>
                <dt>Refinements</dt>
                <dd data-testid="refinement-cost">{formatUsd(run.refinementCostUsd)}</dd>
              </div>
              <div className="cost-total">
                <dt>Total</dt>
                <dd data-testid="total-cost" aria-live="polite">
                  {formatUsd(run.totalCostUsd)}
                </dd>
              </div>
            </dl>
          </section>
        </div>
      )}

      {trees.length === 0 && (
        <p className="hint">{isActive(run.status) ? 'The images are being generated…' : 'This run has no images.'}</p>
      )}

      {viewed ? (
        <ImageViewer
          image={viewed.image}
          rows={viewed.rows}
          live={live}
          selectedId={viewed.rows.some((r) => r.item.id === selectedId) ? selectedId! : viewed.image.id}
          onSelect={setSelectedId}
          onRefine={setRefineTarget}
          onDetails={setDetailsId}
        />
      ) : imageIndex !== undefined && trees.length > 0 ? (
        <p className="notice notice-error">
          This run has no original {imageIndex + 1}. <a href={runHref(run.id)}>Show all originals</a>
        </p>
      ) : (
        <Gallery runId={run.id} images={run.images} refinements={data.refinements} />
      )}

      <p className="sr-only" aria-live="polite">
        {announcement}
      </p>

      {refineTarget && (
        <RefineModal
          key={refineTarget.id}
          target={refineTarget}
          onClose={() => setRefineTarget(null)}
          onQueued={() => void refetch()}
          onCompleted={async (id) => {
            // Close once the tree shows the finished card, so focus lands on its final state.
            await Promise.race([refetch(), new Promise((resolve) => window.setTimeout(resolve, COMPLETE_WAIT_MS))]);
            pendingFocus.current = id;
            setRefineTarget(null);
            setAnnouncement('Refinement completed. Focus moved to the new version.');
          }}
        />
      )}
      {detailsId && <RefinementDetails refinementId={detailsId} onClose={() => setDetailsId(null)} />}
    </>
  );
}
