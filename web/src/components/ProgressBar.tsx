// A determinate progress bar that screen readers can read: role=progressbar with aria-valuenow
// and a text value naming the current stage.

interface ProgressBarProps {
  /** 0..1 */
  value: number;
  label: string;
  valueText?: string;
  testId?: string;
}

// Clamped and rounded so aria-valuenow is always an integer 0..100.
export function ProgressBar({ value, label, valueText, testId = 'progress-bar' }: ProgressBarProps) {
  const pct = Math.round(Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0)) * 100);
  return (
    <div className="progress-wrap">
      <div
        className="progress"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        aria-valuetext={valueText ? `${pct}% — ${valueText}` : `${pct}%`}
        data-testid={testId}
      >
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <span className="progress-text" aria-hidden="true">
        {pct}%
      </span>
    </div>
  );
}
