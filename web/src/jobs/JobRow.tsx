// One queued or running job in the jobs panel: what it is, live progress, a link and Cancel.
import { useEffect, useState } from 'react';
import { useMutation, useSubscription } from 'urql';
import { CancelRefinementDoc, CancelRunDoc, RefinementProgressDoc, RunProgressDoc } from '../graphql/operations';
import { ProgressBar } from '../components/ProgressBar';
import { humanizeStage, refinementTypeLabel, statusLabel } from '../lib/format';
import { imageHref, runHref } from '../lib/router';
import type { JobStatus, RefinementType } from '../gql/graphql';

/** A job as the panel lists it. */
export interface Job {
  kind: 'run' | 'refinement';
  id: string;
  status: JobStatus;
  runId: string;
  prompt: string | null;
  version?: number;
  type?: RefinementType;
  generationIndex?: number;
}

/** The job's name in the panel, e.g. "v3 · Prompt edit" or "Generating images". */
export function jobTitle(job: Job): string {
  if (job.kind === 'run') return 'Generating images';
  return `v${job.version} · ${job.type ? refinementTypeLabel(job.type) : 'Refinement'} of original ${(job.generationIndex ?? 0) + 1}`;
}

// Progress comes from the job's own subscription; a terminal event asks the panel to reload.
export function JobRow({ job, onFinished }: { job: Job; onFinished: () => void }) {
  const [progress, setProgress] = useState<{ value: number; stage: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [cancelRefinementState, cancelRefinement] = useMutation(CancelRefinementDoc);
  const [cancelRunState, cancelRun] = useMutation(CancelRunDoc);
  const isRun = job.kind === 'run';
  const [refinementEvents] = useSubscription({ query: RefinementProgressDoc, variables: { id: job.id }, pause: isRun });
  const [runEvents] = useSubscription({ query: RunProgressDoc, variables: { id: job.runId }, pause: !isRun });
  const event = isRun ? runEvents.data?.runProgress : refinementEvents.data?.refinementProgress;

  useEffect(() => {
    if (!event || event.jobId !== job.id) return;
    if (event.terminal) {
      onFinished();
      return;
    }
    // 'job' events carry no stage of their own; keep the last named one.
    setProgress((prev) => ({
      value: event.progress,
      stage: event.stage === 'job' ? (prev?.stage ?? 'Starting') : humanizeStage(event.stage),
    }));
  }, [event, job.id, onFinished]);

  const cancel = async () => {
    setError(null);
    let problem: string | undefined;
    if (isRun) {
      const result = await cancelRun({ id: job.id });
      problem = result.error?.message ?? result.data?.cancelRun.userErrors[0]?.message;
    } else {
      const result = await cancelRefinement({ id: job.id });
      problem = result.error?.message ?? result.data?.cancelRefinement.userErrors[0]?.message;
    }
    if (problem) setError(problem);
    onFinished();
  };

  const title = jobTitle(job);
  const where = job.prompt?.trim() || 'Untitled run';
  const href = isRun ? runHref(job.runId) : imageHref(job.runId, job.generationIndex ?? 0);
  const busy = cancelRefinementState.fetching || cancelRunState.fetching;
  return (
    <li className="job-row" data-testid="job-row" data-job-id={job.id} data-status={job.status}>
      <div className="job-text">
        <a href={href} className="job-title">
          {title}
        </a>
        <span className="muted job-where">{where}</span>
      </div>
      <ProgressBar
        value={progress?.value ?? 0}
        label={`Progress of ${title}`}
        valueText={progress?.stage ?? statusLabel(job.status)}
        testId="job-progress"
      />
      <button
        type="button"
        className="button-small button-danger"
        onClick={() => void cancel()}
        disabled={busy}
        aria-label={`Cancel ${title}`}
        data-testid="job-cancel"
      >
        Cancel
      </button>
      {error && (
        <p className="error-text job-error" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}
