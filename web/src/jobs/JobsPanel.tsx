// The caller's queued and running jobs on every page, read from the API (so they survive a reload),
// each with live progress and Cancel, one slim row each so the page below keeps the screen.
import { useCallback, useEffect, useMemo, useState } from 'react';
import { useQuery } from 'urql';
import { ActiveJobsDoc } from '../graphql/operations';
import { JobRow, type Job } from './JobRow';
import { useJobsChanged } from './jobsChanged';

/** Reload interval while jobs are listed (covers a broken websocket and jobs queued elsewhere). */
const POLL_MS = 5000;
/** From this many jobs on, the list starts folded to its one-line summary. */
export const FOLD_FROM = 3;

// Nothing is rendered while the caller has no unfinished job.
export function JobsPanel() {
  const [{ data }, reexecute] = useQuery({ query: ActiveJobsDoc, requestPolicy: 'network-only' });
  // null until the user chooses, so the list folds by itself once it grows long.
  const [open, setOpen] = useState<boolean | null>(null);
  const reload = useCallback(() => reexecute({ requestPolicy: 'network-only' }), [reexecute]);
  useJobsChanged(reload);

  const jobs: Job[] = useMemo(() => {
    if (!data) return [];
    const runs: Job[] = data.activeJobs.runs.map((r) => ({
      kind: 'run',
      id: r.id,
      status: r.status,
      runId: r.id,
      prompt: r.prompt ?? null,
    }));
    const refinements: Job[] = data.activeJobs.refinements.map((r) => ({
      kind: 'refinement',
      id: r.id,
      status: r.status,
      runId: r.run.id,
      prompt: r.run.prompt ?? null,
      version: r.version,
      type: r.type,
      generationIndex: r.generationIndex,
    }));
    return [...runs, ...refinements];
  }, [data]);

  useEffect(() => {
    if (jobs.length === 0) return;
    const id = window.setInterval(reload, POLL_MS);
    return () => window.clearInterval(id);
  }, [jobs.length, reload]);

  if (jobs.length === 0) return null;
  const running = jobs.filter((j) => j.status === 'RUNNING').length;
  const foldable = jobs.length > 1;
  const expanded = !foldable || (open ?? jobs.length < FOLD_FROM);
  return (
    <section className="jobs-panel card" aria-labelledby="jobs-title" data-testid="jobs-panel">
      <div className="jobs-head">
        <h2 id="jobs-title" className="jobs-title">
          Your jobs{' '}
          <span className="count">
            · {running} running, {jobs.length - running} queued
          </span>
        </h2>
        {foldable && (
          <button
            type="button"
            className="button-small button-secondary jobs-toggle"
            aria-expanded={expanded}
            aria-controls="jobs-list"
            data-testid="jobs-toggle"
            onClick={() => setOpen(!expanded)}
          >
            {expanded ? 'Hide jobs' : `Show all ${jobs.length} jobs`}
          </button>
        )}
      </div>
      <ul className="jobs-list" id="jobs-list" hidden={!expanded}>
        {jobs.map((job) => (
          <JobRow key={job.id} job={job} onFinished={reload} />
        ))}
      </ul>
    </section>
  );
}
