// Live progress of one refinement: events from the refinementProgress subscription (recorded
// ones first, then live), with polling of Refinement.events as a fallback when the websocket
// cannot be used.
import { useEffect, useRef, useState } from 'react';
import { useClient, useMutation } from 'urql';
import { onEnd, pipe, subscribe } from 'wonka';
import { CancelRefinementDoc, RefinementEventsDoc, RefinementProgressDoc } from '../graphql/operations';
import type { ProgressEventFieldsFragment } from '../gql/graphql';
import { ProgressBar } from '../components/ProgressBar';
import { humanizeStage, statusLabel } from '../lib/format';
import { AuthImage } from '../components/AuthImage';

/** How the job ended, once it has. */
export type Outcome = 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** Polling interval of the fallback, in ms. */
const POLL_MS = 1500;

/** Merged view of the events received so far. */
export interface ProgressSummary {
  lastSeq: number;
  progress: number;
  stage: string | null;
  message: string | null;
  previewUrl: string | null;
  stages: { name: string; status: ProgressEventFieldsFragment['status'] }[];
  outcome: Outcome | null;
  terminalMessage: string | null;
}

/** Before any event arrived. */
export const EMPTY_SUMMARY: ProgressSummary = {
  lastSeq: 0,
  progress: 0,
  stage: null,
  message: null,
  previewUrl: null,
  stages: [],
  outcome: null,
  terminalMessage: null,
};

// Replayed and polled events may overlap, so anything at or below the last seq is ignored; the
// stage list keeps first-seen order with each stage's latest status.
export function applyEvent(summary: ProgressSummary, event: ProgressEventFieldsFragment): ProgressSummary {
  if (event.seq <= summary.lastSeq) return summary;
  const stages = summary.stages.slice();
  if (event.stage !== 'job') {
    const i = stages.findIndex((s) => s.name === event.stage);
    if (i >= 0) stages[i] = { name: event.stage, status: event.status };
    else stages.push({ name: event.stage, status: event.status });
  }
  const outcome =
    event.terminal && (event.status === 'COMPLETED' || event.status === 'FAILED' || event.status === 'CANCELLED')
      ? event.status
      : event.terminal
        ? 'FAILED'
        : summary.outcome;
  // A job that ends early leaves its current stage unfinished: it shows how the job ended, not "Running".
  const ended = outcome === 'CANCELLED' || outcome === 'FAILED' ? outcome : null;
  const finalStages = ended
    ? stages.map((s) => (s.status === 'RUNNING' || s.status === 'PENDING' ? { ...s, status: ended } : s))
    : stages;
  return {
    lastSeq: event.seq,
    progress: event.terminal && event.status === 'COMPLETED' ? 1 : Math.max(summary.progress, event.progress),
    stage: event.stage === 'job' ? summary.stage : event.stage,
    message: event.message ?? summary.message,
    previewUrl: event.previewUrl ?? summary.previewUrl,
    stages: finalStages,
    outcome,
    terminalMessage: event.terminal ? (event.message ?? null) : summary.terminalMessage,
  };
}

interface RefinementProgressProps {
  refinementId: string;
  version: number | null;
  onCompleted: (id: string) => void;
  onClose: () => void;
}

// Shown in the refine modal once the refinement was accepted.
export function RefinementProgress({ refinementId, version, onCompleted, onClose }: RefinementProgressProps) {
  const client = useClient();
  const [summary, setSummary] = useState<ProgressSummary>(EMPTY_SUMMARY);
  const [polling, setPolling] = useState(false);
  const [errorMessage, setErrorMessage] = useState<string | null>(null);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const [{ fetching: cancelling }, cancel] = useMutation(CancelRefinementDoc);
  const summaryRef = useRef(summary);
  summaryRef.current = summary;
  const completedRef = useRef(onCompleted);
  completedRef.current = onCompleted;
  const closeRef = useRef<HTMLButtonElement>(null);

  const push = (events: readonly ProgressEventFieldsFragment[]) => {
    setSummary((prev) => events.reduce(applyEvent, prev));
  };

  // Subscription first; any error or an end without a terminal event switches to polling.
  useEffect(() => {
    let ended = false;
    const { unsubscribe } = pipe(
      client.subscription(RefinementProgressDoc, { id: refinementId }),
      onEnd(() => {
        ended = true;
        if (!summaryRef.current.outcome) setPolling(true);
      }),
      subscribe((result) => {
        if (result.error) {
          setPolling(true);
          return;
        }
        const event = result.data?.refinementProgress;
        if (event) push([event]);
      }),
    );
    return () => {
      if (!ended) unsubscribe();
    };
    // push only calls setSummary, which is stable.
  }, [client, refinementId]);

  useEffect(() => {
    if (!polling || summary.outcome) return;
    let stopped = false;
    const tick = async () => {
      const result = await client
        .query(RefinementEventsDoc, { id: refinementId, after: summaryRef.current.lastSeq }, { requestPolicy: 'network-only' })
        .toPromise();
      if (stopped) return;
      const r = result.data?.refinement;
      if (r) {
        push(r.events);
        if (r.errorMessage) setErrorMessage(r.errorMessage);
      }
    };
    void tick();
    const timer = window.setInterval(() => void tick(), POLL_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [polling, summary.outcome, client, refinementId]);

  // The error message lives on the refinement, not on the event, so it is fetched once at the end.
  useEffect(() => {
    if (summary.outcome === 'COMPLETED') {
      completedRef.current(refinementId);
    } else if (summary.outcome === 'FAILED' && !errorMessage) {
      void client
        .query(RefinementEventsDoc, { id: refinementId, after: summaryRef.current.lastSeq }, { requestPolicy: 'network-only' })
        .toPromise()
        .then((result) => setErrorMessage(result.data?.refinement?.errorMessage ?? null));
    }
  }, [summary.outcome, refinementId, client, errorMessage]);

  // The Cancel button disappears at the end; focus must not fall back to the page body.
  useEffect(() => {
    if (summary.outcome) {
      const active = document.activeElement;
      if (!active || active === document.body || !active.isConnected || active.closest('[data-testid="refine-progress"]'))
        closeRef.current?.focus();
    }
  }, [summary.outcome]);

  const onCancel = async () => {
    setCancelError(null);
    const result = await cancel({ id: refinementId });
    if (result.error) {
      setCancelError(result.error.message);
      return;
    }
    const payload = result.data?.cancelRefinement;
    if (payload?.userErrors.length) {
      setCancelError(payload.userErrors.map((e) => e.message).join(' '));
    } else if (payload?.refinement?.status === 'CANCELLED') {
      setSummary((prev) => (prev.outcome ? prev : { ...prev, outcome: 'CANCELLED' }));
    }
  };

  const stageText = summary.stage ? humanizeStage(summary.stage) : 'Waiting for a worker';
  const heading = version ? `Refining to v${version}` : 'Refining';

  return (
    <div className="refine-progress" data-testid="refine-progress" data-outcome={summary.outcome ?? 'RUNNING'}>
      <h3>{heading}</h3>
      <ProgressBar
        value={summary.progress}
        label="Refinement progress"
        valueText={summary.outcome ? statusLabel(summary.outcome) : stageText}
      />
      <p className="progress-stage" aria-live="polite">
        {summary.outcome ? statusLabel(summary.outcome) : stageText}
        {summary.message && !summary.outcome ? ` — ${summary.message}` : ''}
      </p>
      {summary.stages.length > 0 && (
        <ol className="stage-list" aria-label="Stages">
          {summary.stages.map((s) => (
            <li key={s.name} data-status={s.status}>
              <span className="stage-name">{humanizeStage(s.name)}</span> <span className="muted">{statusLabel(s.status)}</span>
            </li>
          ))}
        </ol>
      )}
      {summary.previewUrl && !summary.outcome && (
        <AuthImage className="progress-preview" src={summary.previewUrl} alt="Preview of the result in progress" />
      )}
      {polling && !summary.outcome && <p className="hint">Live updates are unavailable; checking every few seconds.</p>}
      {summary.outcome === 'FAILED' && (
        <div className="notice notice-error" role="alert" data-testid="refine-failed">
          The refinement failed{errorMessage || summary.terminalMessage ? `: ${errorMessage ?? summary.terminalMessage}` : '.'}
        </div>
      )}
      {summary.outcome === 'CANCELLED' && (
        <div className="notice" role="status">
          The refinement was cancelled.
        </div>
      )}
      {cancelError && (
        <div className="field-error" role="alert" data-testid="field-error-cancel">
          {cancelError}
        </div>
      )}
      <div className="actions">
        {!summary.outcome ? (
          <button
            type="button"
            className="button-danger"
            onClick={() => {
              if (!cancelling) void onCancel();
            }}
            aria-disabled={cancelling || undefined}
            data-testid="cancel-button"
          >
            {cancelling ? 'Cancelling…' : 'Cancel refinement'}
          </button>
        ) : (
          <button type="button" className="button-secondary" onClick={onClose} data-testid="close-button" ref={closeRef}>
            Close
          </button>
        )}
      </div>
    </div>
  );
}
