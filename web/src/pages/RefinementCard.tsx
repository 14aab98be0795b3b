// A refinement's card in the large view's version strip.
import { useId } from 'react';
import type { RefinementFieldsFragment } from '../gql/graphql';
import { StatusBadge } from '../components/StatusBadge';
import { VersionBadge } from '../components/VersionBadge';
import { elapsedMs, formatDateTime, formatDuration, formatUsd, refinementTypeLabel } from '../lib/format';
import { AuthImage } from '../components/AuthImage';

/** An image that can be refined: what the refine modal needs to show and send. */
export interface RefineTarget {
  id: string;
  version: number;
  url: string;
  width: number | null;
  height: number | null;
  /** Human name, e.g. "Original 1" or "v3 of original 1". */
  label: string;
}

/** Live progress of a job, from runProgress events. */
export interface LiveProgress {
  progress: number;
  stage: string;
}

// Finished is what the details dialog is about; queued or running ones have nothing to compare.
export function isFinished(status: RefinementFieldsFragment['status']): boolean {
  return status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED';
}

interface RefinementCardProps {
  refinement: RefinementFieldsFragment;
  parentVersion: number;
  originalLabel: string;
  live?: LiveProgress;
  /** The large view shows this version. */
  selected?: boolean;
  onSelect?: (id: string) => void;
  onRefine: (t: RefineTarget) => void;
  onDetails: (id: string) => void;
}

// Focusable (tabIndex -1) so the page can move focus to a card that just finished.
export function RefinementCard(props: RefinementCardProps) {
  const { refinement: r, parentVersion, originalLabel, live, selected, onSelect, onRefine, onDetails } = props;
  const titleId = useId();
  const label = `v${r.version} of ${originalLabel.toLowerCase()}`;
  const took = elapsedMs(r.startedAt, r.completedAt);
  const finished = isFinished(r.status);
  const summary = r.summary || r.prompt || r.instructions;
  return (
    <article
      className={`refinement-card card status-border-${r.status.toLowerCase()}`}
      data-testid="refinement-card"
      data-version={r.version}
      data-status={r.status}
      data-refinement-id={r.id}
      data-selected={selected ? 'true' : undefined}
      aria-current={selected ? 'true' : undefined}
      aria-labelledby={titleId}
      tabIndex={-1}
    >
      {r.url ? (
        <button
          type="button"
          className="thumb-button"
          onClick={() => (onSelect ? onSelect(r.id) : onDetails(r.id))}
          aria-pressed={onSelect ? !!selected : undefined}
          aria-describedby={titleId}
          data-testid="show-version"
        >
          <AuthImage
            className="refinement-thumb"
            src={r.url}
            displayWidth={120}
            alt={`${onSelect ? 'Show large' : 'Open details'}: v${r.version}${summary ? `, ${summary}` : ''}`}
            width={r.width ?? undefined}
            height={r.height ?? undefined}
            loading="lazy"
          />
        </button>
      ) : (
        <div className="refinement-thumb placeholder" aria-hidden="true">
          {r.status === 'FAILED' ? 'Failed' : r.status === 'CANCELLED' ? 'Cancelled' : 'In progress'}
        </div>
      )}
      <div className="refinement-body">
        <h3 id={titleId} className="card-title-row">
          <VersionBadge version={r.version} />
          <span className="muted from" data-testid="lineage">
            · from v{parentVersion}
          </span>
          <span className="refinement-type">{refinementTypeLabel(r.type)}</span>
        </h3>
        <p className="card-status-row">
          <StatusBadge status={r.status} progress={live?.progress} />
          {live && r.status === 'RUNNING' && <span className="muted"> {live.stage}</span>}
        </p>
        {summary && <p className="summary">{summary}</p>}
        {r.status === 'FAILED' && r.errorMessage && (
          <p className="error-text">
            <span className="sr-only">Error: </span>
            {r.errorMessage}
          </p>
        )}
        <dl className="facts">
          <div>
            <dt>Cost</dt>
            <dd>{formatUsd(r.costUsd)}</dd>
          </div>
          <div>
            <dt>{took !== null ? 'Took' : 'Requested'}</dt>
            <dd>{took !== null ? formatDuration(took) : <time dateTime={r.createdAt}>{formatDateTime(r.createdAt)}</time>}</dd>
          </div>
        </dl>
        <div className="card-actions">
          {finished && (
            <button
              type="button"
              className="button-secondary"
              onClick={() => onDetails(r.id)}
              data-testid="details-button"
              aria-label={`Details of ${label}`}
            >
              Details
            </button>
          )}
          {r.status === 'COMPLETED' && r.url && (
            <button
              type="button"
              className="button-primary"
              data-testid="refine-button"
              onClick={() => onRefine({ id: r.id, version: r.version, url: r.url!, width: r.width, height: r.height, label })}
              aria-label={`Refine ${label}`}
            >
              Refine
            </button>
          )}
        </div>
      </div>
    </article>
  );
}
