// Job status as words plus an icon, never colour alone.
import type { JobStatus } from '../gql/graphql';
import { statusLabel } from '../lib/format';

const ICONS: Record<JobStatus, string> = {
  QUEUED: '◷',
  RUNNING: '▶',
  COMPLETED: '✓',
  FAILED: '✕',
  CANCELLED: '⊘',
};

// The status pill used on run and refinement cards.
export function StatusBadge({ status, progress }: { status: JobStatus; progress?: number | null }) {
  const pct = status === 'RUNNING' && progress !== null && progress !== undefined ? ` ${Math.round(progress * 100)}%` : '';
  return (
    <span className={`status status-${status.toLowerCase()}`} data-status={status}>
      <span aria-hidden="true">{ICONS[status]} </span>
      {statusLabel(status)}
      {pct}
    </span>
  );
}
