// Before/after comparison on the image itself: the result fills the frame and the parent shows on
// the left of a divider that is dragged on the image (mouse, pen or touch) or moved with the keys.
import { useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';
import { AuthImage } from '../components/AuthImage';

interface CompareSliderProps {
  beforeUrl: string;
  afterUrl: string;
  beforeLabel: string;
  afterLabel: string;
  width?: number | null;
  height?: number | null;
  /** The widest the stage is drawn, in CSS px (the server sends copies that size). */
  displayWidth?: number;
}

/** A divider position kept inside 0..100 and rounded to a tenth. */
export function clampPercent(value: number): number {
  return Math.round(Math.min(100, Math.max(0, value)) * 10) / 10;
}

// The slider keys of the ARIA practices: arrows step 1 (10 with Shift), Page keys 10, Home/End.
export function keyedPosition(position: number, key: string, shift: boolean): number | null {
  const step = shift ? 10 : 1;
  const moves: Record<string, number> = {
    ArrowLeft: position - step,
    ArrowDown: position - step,
    ArrowRight: position + step,
    ArrowUp: position + step,
    PageDown: position - 10,
    PageUp: position + 10,
    Home: 0,
    End: 100,
  };
  return key in moves ? clampPercent(moves[key]) : null;
}

// Starts at 50% so both versions are visible at once.
export function CompareSlider(props: CompareSliderProps) {
  const { beforeUrl, afterUrl, beforeLabel, afterLabel, width, height, displayWidth } = props;
  const [position, setPosition] = useState(50);
  const stage = useRef<HTMLDivElement>(null);
  const handle = useRef<HTMLDivElement>(null);
  const dragging = useRef<number | null>(null);
  const ratio = width && height ? width / height : undefined;

  const moveTo = (clientX: number) => {
    const box = stage.current?.getBoundingClientRect();
    if (box && box.width > 0) setPosition(clampPercent(((clientX - box.left) / box.width) * 100));
  };
  const onPointerDown = (e: PointerEvent<HTMLDivElement>) => {
    if (e.button !== 0) return;
    dragging.current = e.pointerId;
    try {
      // Keeps the drag going when the pointer leaves the picture; synthetic pointers cannot be captured.
      stage.current?.setPointerCapture?.(e.pointerId);
    } catch {
      /* the drag still works while the pointer stays on the picture */
    }
    moveTo(e.clientX);
    handle.current?.focus({ preventScroll: true });
    e.preventDefault();
  };
  const onPointerMove = (e: PointerEvent<HTMLDivElement>) => {
    if (dragging.current === e.pointerId) moveTo(e.clientX);
  };
  const stop = (e: PointerEvent<HTMLDivElement>) => {
    if (dragging.current === e.pointerId) dragging.current = null;
  };
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const next = keyedPosition(position, e.key, e.shiftKey);
    if (next === null) return;
    e.preventDefault();
    setPosition(next);
  };

  return (
    <div className="compare">
      <div
        ref={stage}
        className="compare-stage"
        data-testid="compare-stage"
        style={ratio ? { aspectRatio: `${width} / ${height}`, ['--ratio' as string]: ratio } : undefined}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={stop}
        onPointerCancel={stop}
      >
        <AuthImage
          className="compare-after"
          src={afterUrl}
          displayWidth={displayWidth}
          alt={`After: ${afterLabel}`}
          width={width ?? undefined}
          height={height ?? undefined}
          draggable={false}
        />
        <div className="compare-before" style={{ clipPath: `inset(0 ${100 - position}% 0 0)` }}>
          <AuthImage
            src={beforeUrl}
            displayWidth={displayWidth}
            alt={`Before: ${beforeLabel}`}
            width={width ?? undefined}
            height={height ?? undefined}
            draggable={false}
          />
        </div>
        <div
          ref={handle}
          className="compare-divider"
          style={{ left: `${position}%` }}
          role="slider"
          tabIndex={0}
          aria-label={`Compare ${beforeLabel} (before) and ${afterLabel} (after)`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={position}
          aria-valuetext={`${Math.round(position)}% before, ${Math.round(100 - position)}% after`}
          aria-orientation="horizontal"
          data-testid="compare-slider"
          onKeyDown={onKeyDown}
        >
          <span className="compare-grip" aria-hidden="true" />
        </div>
        <span className="compare-tag compare-tag-before" aria-hidden="true">
          Before · {beforeLabel}
        </span>
        <span className="compare-tag compare-tag-after" aria-hidden="true">
          After · {afterLabel}
        </span>
      </div>
      <p className="hint compare-hint">Drag the divider on the image, or focus it and use the arrow keys.</p>
    </div>
  );
}
