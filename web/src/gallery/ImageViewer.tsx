// The large view of one original: the chosen version big, its versions beside it, and the actions
// (refine, download, compare with its parent, details) right above the picture, which is sized to fit
// the rest of the first screen.
import { useState } from 'react';
import type { RefinementFieldsFragment } from '../gql/graphql';
import type { RunTreeRun } from '../hooks/useRunTree';
import type { TreeRow } from '../lib/versionTree';
import { AuthImage } from '../components/AuthImage';
import { DownloadLink } from '../components/DownloadLink';
import { StatusBadge } from '../components/StatusBadge';
import { VersionBadge } from '../components/VersionBadge';
import { CompareSlider } from '../details/CompareSlider';
import { RefinementCard, isFinished, type LiveProgress, type RefineTarget } from '../pages/RefinementCard';
import { refinementTypeLabel } from '../lib/format';
import { VersionStripOriginal } from './VersionStripOriginal';
import { useFitBelow } from '../hooks/useFitBelow';

type Original = RunTreeRun['images'][number];

/** What the large view shows of any version: the original or a refinement. */
interface Shown {
  id: string;
  version: number;
  url: string | null;
  width: number | null;
  height: number | null;
}

/** The widest the large image is drawn, in CSS px. */
export const LARGE_WIDTH = 900;

interface ImageViewerProps {
  image: Original;
  rows: readonly TreeRow<RefinementFieldsFragment>[];
  live: Record<string, LiveProgress>;
  selectedId: string;
  onSelect: (id: string) => void;
  onRefine: (t: RefineTarget) => void;
  onDetails: (id: string) => void;
}

// Compare is offered when the chosen version and its parent both have a picture.
export function ImageViewer({ image, rows, live, selectedId, onSelect, onRefine, onDetails }: ImageViewerProps) {
  const [comparing, setComparing] = useState(false);
  const toolbar = useFitBelow<HTMLDivElement>();
  const originalLabel = `Original ${image.generationIndex + 1}`;
  const row = rows.find((r) => r.item.id === selectedId);
  const chosen: RefinementFieldsFragment | undefined = row?.item;
  const shown: Shown = chosen ?? image;
  const parent: Shown | undefined = chosen
    ? chosen.parent.id === image.id
      ? image
      : rows.find((r) => r.item.id === chosen.parent.id)?.item
    : undefined;
  const canCompare = !!(shown.url && parent?.url);
  const label = chosen ? `v${chosen.version} of ${originalLabel.toLowerCase()}` : originalLabel;
  const alt = chosen ? `v${chosen.version}${chosen.summary ? `: ${chosen.summary}` : ''}` : `${originalLabel} (v1)`;

  return (
    <div className="viewer" data-testid="image-viewer">
      <section className="viewer-main" aria-labelledby="viewer-title">
        <div className="viewer-toolbar" ref={toolbar}>
          <h2 id="viewer-title" className="card-title-row viewer-title">
            <VersionBadge version={shown.version} />
            {chosen ? (
              <>
                <span className="muted from">· from v{chosen.parent.version}</span>
                <span className="refinement-type">{refinementTypeLabel(chosen.type)}</span>
              </>
            ) : (
              <span>Original{image.width && image.height ? ` · ${image.width}×${image.height}` : ''}</span>
            )}
            {chosen && <StatusBadge status={chosen.status} progress={live[chosen.id]?.progress} />}
          </h2>
          <div className="viewer-actions">
            {shown.url && (!chosen || chosen.status === 'COMPLETED') && (
              <button
                type="button"
                className="button-primary"
                data-testid="viewer-refine"
                onClick={() =>
                  onRefine({
                    id: shown.id,
                    version: shown.version,
                    url: shown.url!,
                    width: shown.width,
                    height: shown.height,
                    label,
                  })
                }
              >
                Refine
              </button>
            )}
            {canCompare && (
              <button
                type="button"
                className="button-secondary"
                aria-pressed={comparing}
                data-testid="compare-toggle"
                onClick={() => setComparing((c) => !c)}
              >
                Compare with v{parent!.version}
              </button>
            )}
            {shown.url && (
              <DownloadLink
                url={shown.url}
                filename={`original-${image.generationIndex + 1}-v${shown.version}.png`}
                label="Download"
              />
            )}
            {chosen && isFinished(chosen.status) && (
              <button type="button" className="button-secondary" onClick={() => onDetails(chosen.id)}>
                Details
              </button>
            )}
          </div>
        </div>
        {comparing && canCompare ? (
          <CompareSlider
            key={shown.id}
            beforeUrl={parent!.url!}
            afterUrl={shown.url!}
            beforeLabel={`v${parent!.version}`}
            afterLabel={`v${shown.version}`}
            width={shown.width ?? parent!.width}
            height={shown.height ?? parent!.height}
            displayWidth={LARGE_WIDTH}
          />
        ) : shown.url ? (
          <div
            className="viewer-frame"
            style={shown.width && shown.height ? { ['--ratio' as string]: shown.width / shown.height } : undefined}
          >
            <AuthImage
              className="viewer-image"
              data-testid="viewer-image"
              src={shown.url}
              displayWidth={LARGE_WIDTH}
              alt={alt}
              width={shown.width ?? undefined}
              height={shown.height ?? undefined}
            />
          </div>
        ) : (
          <div className="viewer-frame placeholder">
            {chosen?.status === 'FAILED'
              ? 'This refinement failed.'
              : chosen?.status === 'CANCELLED'
                ? 'Cancelled.'
                : 'In progress…'}
          </div>
        )}
        {chosen?.summary && <p className="summary viewer-summary">{chosen.summary}</p>}
      </section>
      <aside className="viewer-versions" aria-labelledby="versions-title">
        <h2 id="versions-title" className="versions-title">
          Versions <span className="count">· {rows.length + 1}</span>
        </h2>
        <ol className="version-tree" aria-label={`Versions of ${originalLabel.toLowerCase()}`}>
          <li className="tree-row" data-depth={0}>
            <VersionStripOriginal image={image} selected={selectedId === image.id} onSelect={onSelect} />
          </li>
          {rows.map((r) => (
            <li key={r.item.id} className="tree-row" style={{ ['--indent' as string]: r.indent }} data-depth={r.depth}>
              <RefinementCard
                refinement={r.item}
                parentVersion={r.parentVersion}
                originalLabel={originalLabel}
                live={live[r.item.id]}
                selected={selectedId === r.item.id}
                onSelect={onSelect}
                onRefine={onRefine}
                onDetails={onDetails}
              />
            </li>
          ))}
        </ol>
      </aside>
    </div>
  );
}
