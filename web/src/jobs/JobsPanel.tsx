// The caller's queued and running jobs on every page, read from the API (so they survive a reload),
// each with live progress and Cancel.
import { useCallback, useEffect, useMemo } from 'react';
import { useQuery } from 'urql';
import { ActiveJobsDoc } from '../graphql/operations';
import { JobRow, type Job } from './JobRow';
import { useJobsChanged } from './jobsChanged';

/** Reload interval while jobs are listed (covers a broken websocket and jobs queued elsewhere). */
const POLL_MS = 5000;

// Nothing is rendered while the caller has no unfinished job.
export function JobsPanel() {
  const [{ data }, reexecute] = useQuery({ query: ActiveJobsDoc, requestPolicy: 'network-only' });
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
  return (
    <section className="jobs-panel card" aria-labelledby="jobs-title" data-testid="jobs-panel">
      <h2 id="jobs-title" className="jobs-title">
        Your jobs{' '}
        <span className="count">
          · {running} running, {jobs.length - running} queued
        </span>
      </h2>
      <ul className="jobs-list">
        {jobs.map((job) => (
          <JobRow key={job.id} job={job} onFinished={reload} />
        ))}
      </ul>
    </section>
  );
}
