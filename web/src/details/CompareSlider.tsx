// Before/after comparison: the result fills the frame and the parent is revealed from the left up
// to the slider's position. The slider is a native range input, so it is keyboard operable.
import { useId, useState } from 'react';
import { AuthImage } from '../components/AuthImage';

interface CompareSliderProps {
  beforeUrl: string;
  afterUrl: string;
  beforeLabel: string;
  afterLabel: string;
  width?: number | null;
  height?: number | null;
}

// Starts at 50% so both versions are visible at once.
export function CompareSlider({ beforeUrl, afterUrl, beforeLabel, afterLabel, width, height }: CompareSliderProps) {
  const id = useId();
  const [position, setPosition] = useState(50);
  const aspect = width && height ? `${width} / ${height}` : undefined;
  return (
    <div className="compare">
      <div className="compare-stage" style={aspect ? { aspectRatio: aspect } : undefined}>
        <AuthImage
          className="compare-after"
          src={afterUrl}
          alt={`After: ${afterLabel}`}
          width={width ?? undefined}
          height={height ?? undefined}
        />
        <div className="compare-before" style={{ clipPath: `inset(0 ${100 - position}% 0 0)` }}>
          <AuthImage src={beforeUrl} alt={`Before: ${beforeLabel}`} width={width ?? undefined} height={height ?? undefined} />
        </div>
        <div className="compare-divider" style={{ left: `${position}%` }} aria-hidden="true" />
        <span className="compare-tag compare-tag-before" aria-hidden="true">
          Before
        </span>
        <span className="compare-tag compare-tag-after" aria-hidden="true">
          After
        </span>
      </div>
      <label htmlFor={id} className="compare-label">
        Compare before and after
      </label>
      <input
        id={id}
        type="range"
        min={0}
        max={100}
        step={1}
        value={position}
        onChange={(e) => setPosition(Number(e.target.value))}
        aria-valuetext={`${position}% before, ${100 - position}% after`}
        data-testid="compare-slider"
        className="compare-range"
      />
    </div>
  );
}
