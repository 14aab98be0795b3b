// Display formatting kept in one place so every page shows money, dates and names alike.
import type { JobStatus, RefinementType, StageStatus } from '../gql/graphql';

const usd2 = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'USD',
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const usd4 = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'USD',
  minimumFractionDigits: 2,
  maximumFractionDigits: 4,
});

// Refinements cost fractions of a cent, so amounts under a dollar keep up to four decimals
// instead of rounding a real cost to "$0.00".
export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (value === 0) return usd2.format(0);
  const abs = Math.abs(value);
  if (abs < 0.0001) return value < 0 ? '−<$0.0001' : '<$0.0001';
  return abs >= 1 ? usd2.format(value) : usd4.format(value);
}

// Dates come as ISO strings; an unparsable one is shown as it came rather than as "Invalid Date".
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

// Short durations read better in ms, long ones in minutes.
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds - minutes * 60);
  return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
}

// The time a job took, from its timestamps, or null while it has not both started and finished.
export function elapsedMs(startedAt: string | null | undefined, completedAt: string | null | undefined): number | null {
  if (!startedAt || !completedAt) return null;
  const ms = new Date(completedAt).getTime() - new Date(startedAt).getTime();
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}

// Stage names are snake_case identifiers from the pipeline config; people read words.
export function humanizeStage(name: string): string {
  if (name === 'job') return 'Job';
  const words = name.replace(/[_-]+/g, ' ').trim();
  return words ? words[0].toUpperCase() + words.slice(1) : name;
}

const TYPE_LABELS: Record<RefinementType, string> = {
  SUBJECT: 'Subject repair',
  TEXT: 'Text repair',
  PROMPT: 'Prompt edit',
};

// Enum values are for machines; cards show what the refinement did.
export function refinementTypeLabel(type: RefinementType): string {
  return TYPE_LABELS[type] ?? type;
}

// Statuses read as words ("Running") rather than shouting enum values.
export function statusLabel(status: JobStatus | StageStatus): string {
  return status.charAt(0) + status.slice(1).toLowerCase();
}

// Percent text for fractions 0..1, used for mask rectangles and progress.
export function formatPercent(fraction: number, digits = 0): string {
  return `${(fraction * 100).toFixed(digits)}%`;
}

// The platforms a run can target; the value is what the server stores as Run.platform.
export const PLATFORMS: readonly string[] = [
  'Instagram Post',
  'Instagram Story/Reel',
  'Facebook Post',
  'Pinterest',
  'Xiaohongshu',
];

// True while a job may still change, so the UI keeps listening or polling for it.
export function isActive(status: JobStatus): boolean {
  return status === 'QUEUED' || status === 'RUNNING';
}
