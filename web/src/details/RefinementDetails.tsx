// Details of one refinement: before/after comparison, what was asked, what it cost and how each
// stage went.
import { useQuery } from 'urql';
import { RefinementDetailsDoc } from '../graphql/operations';
import { Dialog } from '../components/Dialog';
import { StatusBadge } from '../components/StatusBadge';
import { VersionBadge } from '../components/VersionBadge';
import { describeRect } from '../mask/maskReducer';
import { formatDateTime, formatDuration, formatUsd, humanizeStage, refinementTypeLabel, statusLabel } from '../lib/format';
import { CompareSlider } from './CompareSlider';
import { AuthImage } from '../components/AuthImage';

interface RefinementDetailsProps {
  refinementId: string;
  onClose: () => void;
}

// Fetched fresh when opened, because stages and timings are not part of the tree query.
export function RefinementDetails({ refinementId, onClose }: RefinementDetailsProps) {
  const [{ data, fetching, error }] = useQuery({
    query: RefinementDetailsDoc,
    variables: { id: refinementId },
    requestPolicy: 'cache-and-network',
  });
  const r = data?.refinement;
  const title = r ? `v${r.version} · ${refinementTypeLabel(r.type)}` : 'Refinement details';

  return (
    <Dialog title={title} onClose={onClose} testId="details-dialog" className="details-dialog">
      {!r && fetching && <p>Loading…</p>}
      {!r && error && (
        <p className="notice notice-error" role="alert">
          Could not load the refinement: {error.message}
        </p>
      )}
      {!r && !fetching && !error && <p>This refinement no longer exists.</p>}
      {r && (
        <div className="details">
          <p className="card-title-row">
            <VersionBadge version={r.version} />
            <span>from v{r.parent.version}</span>
            <StatusBadge status={r.status} />
          </p>
          {r.url && r.parent.url ? (
            <CompareSlider
              beforeUrl={r.parent.url}
              afterUrl={r.url}
              beforeLabel={`v${r.parent.version}`}
              afterLabel={`v${r.version}`}
              width={r.width ?? r.parent.width}
              height={r.height ?? r.parent.height}
              displayWidth={900}
            />
          ) : r.parent.url ? (
            <figure className="current-image">
              <AuthImage src={r.parent.url} alt={`v${r.parent.version}, the image this refinement started from`} />
              <figcaption>
                No result image: the refinement {statusLabel(r.status).toLowerCase()}. Shown: v{r.parent.version}.
              </figcaption>
            </figure>
          ) : null}
          {r.status === 'FAILED' && r.errorMessage && (
            <p className="notice notice-error">
              <strong>Error:</strong> {r.errorMessage}
            </p>
          )}
          <h3>Request</h3>
          <dl className="details-list">
            {r.summary && (
              <div>
                <dt>Summary</dt>
                <dd>{r.summary}</dd>
              </div>
            )}
            <div>
              <dt>Type</dt>
              <dd>{refinementTypeLabel(r.type)}</dd>
            </div>
            {r.prompt && (
              <div>
                <dt>Prompt</dt>
                <dd>{r.prompt}</dd>
              </div>
            )}
            {r.instructions && (
              <div>
                <dt>Instructions</dt>
                <dd>{r.instructions}</dd>
              </div>
            )}
            <div>
              <dt>Creativity</dt>
              <dd>{['', '1 minimal', '2 balanced', '3 free'][r.creativityLevel] ?? r.creativityLevel}</dd>
            </div>
            <div>
              <dt>Mask</dt>
              <dd>
                {r.mask && r.mask.length > 0 ? (
                  <ul className="plain-list" data-testid="details-mask">
                    {r.mask.map((rect, i) => (
                      <li key={i}>{describeRect(rect, i)}</li>
                    ))}
                  </ul>
                ) : (
                  'None (whole image)'
                )}
              </dd>
            </div>
            {r.referenceImageUrl && (
              <div>
                <dt>Reference image</dt>
                <dd>
                  <AuthImage
                    className="reference-thumb"
                    src={r.referenceImageUrl}
                    alt="Reference image supplied for this refinement"
                  />
                </dd>
              </div>
            )}
          </dl>
          <h3>Cost and timing</h3>
          <dl className="details-list">
            <div>
              <dt>Cost</dt>
              <dd>{formatUsd(r.costUsd)}</dd>
            </div>
            <div>
              <dt>Requested</dt>
              <dd>
                <time dateTime={r.createdAt}>{formatDateTime(r.createdAt)}</time>
              </dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd>{r.startedAt ? <time dateTime={r.startedAt}>{formatDateTime(r.startedAt)}</time> : '—'}</dd>
            </div>
            <div>
              <dt>Finished</dt>
              <dd>{r.completedAt ? <time dateTime={r.completedAt}>{formatDateTime(r.completedAt)}</time> : '—'}</dd>
            </div>
          </dl>
          <h3>Stages</h3>
          {r.stages.length === 0 ? (
            <p className="hint">No stages recorded.</p>
          ) : (
            <div
              className="table-wrap"
              tabIndex={0}
              role="region"
              aria-label="Stages (scrolls sideways)"
              data-testid="stages-scroll"
            >
              <table className="stages-table" data-testid="stages-table">
                <caption className="sr-only">Stages of this refinement</caption>
                <thead>
                  <tr>
                    <th scope="col">Stage</th>
                    <th scope="col">Status</th>
                    <th scope="col">Duration</th>
                    <th scope="col">Cost</th>
                    <th scope="col">Message</th>
                  </tr>
                </thead>
                <tbody>
                  {r.stages.map((s) => (
                    <tr key={s.name}>
                      <th scope="row">{humanizeStage(s.name)}</th>
                      <td>{statusLabel(s.status)}</td>
                      <td>{formatDuration(s.durationMs)}</td>
                      <td>{formatUsd(s.costUsd)}</td>
                      <td>{s.message ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </Dialog>
  );
}
