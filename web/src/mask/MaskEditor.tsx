// Rectangles drawn over the image with pointer (mouse, pen, touch) or keyboard. The overlay is a
// single focusable element; the list below it gives every rectangle a real Delete button too.
import { useId, useRef, useState, type Dispatch, type KeyboardEvent, type PointerEvent } from 'react';
import {
  announce,
  describeRect,
  keyToAction,
  maskReducer,
  rectFromPoints,
  type MaskAction,
  type MaskState,
  type Rect,
} from './maskReducer';
import { AuthImage } from '../components/AuthImage';

interface Drag {
  mode: 'draw' | 'move' | 'resize';
  pointerId: number;
  startX: number;
  startY: number;
  index: number;
  origin: Rect | null;
  started: boolean;
}

interface MaskEditorProps {
  imageUrl: string;
  imageAlt: string;
  width?: number | null;
  height?: number | null;
  state: MaskState;
  dispatch: Dispatch<MaskAction>;
  /** id of an error message about the mask, announced with the overlay. */
  errorId?: string;
}

/** Distance (fraction of the image) a pointer must travel before a click becomes a drawn rectangle. */
const DRAW_THRESHOLD = 0.01;

// The editor is controlled: the modal owns the state because submitting needs the rectangles.
export function MaskEditor({ imageUrl, imageAlt, width, height, state, dispatch, errorId }: MaskEditorProps) {
  const overlayRef = useRef<HTMLDivElement>(null);
  const dragRef = useRef<Drag | null>(null);
  const [message, setMessage] = useState('');
  const helpId = useId();

  // Announcements are derived from the same reducer the dispatch will run, so they say exactly
  // what the new state is.
  const apply = (action: MaskAction) => {
    const next = maskReducer(state, action);
    const text = announce(state, next, action);
    if (text) setMessage(text);
    dispatch(action);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const action = keyToAction({ key: event.key, shiftKey: event.shiftKey }, state);
    if (!action) return;
    event.preventDefault();
    // Escape here only drops the selection; the dialog must not close as well.
    if (event.key === 'Escape') event.stopPropagation();
    event.stopPropagation();
    apply(action);
  };

  const toFraction = (event: PointerEvent) => {
    const box = overlayRef.current!.getBoundingClientRect();
    const x = box.width ? (event.clientX - box.left) / box.width : 0;
    const y = box.height ? (event.clientY - box.top) / box.height : 0;
    return { x: Math.min(1, Math.max(0, x)), y: Math.min(1, Math.max(0, y)) };
  };

  const startDrag = (event: PointerEvent<HTMLElement>, mode: Drag['mode'], index: number) => {
    if (event.button !== 0 && event.pointerType === 'mouse') return;
    event.preventDefault();
    event.stopPropagation();
    overlayRef.current?.focus({ preventScroll: true });
    const p = toFraction(event);
    const origin = mode === 'draw' ? null : state.rects[index];
    dragRef.current = { mode, pointerId: event.pointerId, startX: p.x, startY: p.y, index, origin, started: mode !== 'draw' };
    overlayRef.current?.setPointerCapture?.(event.pointerId);
    if (mode === 'draw') {
      if (state.selected !== null) dispatch({ type: 'select', index: null });
    } else if (state.selected !== index) {
      apply({ type: 'select', index });
    }
  };

  const onPointerMove = (event: PointerEvent<HTMLDivElement>) => {
    const drag = dragRef.current;
    if (!drag || drag.pointerId !== event.pointerId) return;
    const p = toFraction(event);
    const dx = p.x - drag.startX;
    const dy = p.y - drag.startY;
    if (drag.mode === 'draw') {
      const rect = rectFromPoints(drag.startX, drag.startY, p.x, p.y);
      if (!drag.started) {
        if (Math.abs(dx) < DRAW_THRESHOLD && Math.abs(dy) < DRAW_THRESHOLD) return;
        drag.started = true;
        dispatch({ type: 'add', rect });
      } else {
        dispatch({ type: 'set', index: drag.index, rect, keep: 'position' });
      }
    } else if (drag.origin) {
      const o = drag.origin;
      const rect =
        drag.mode === 'move' ? { ...o, x: o.x + dx, y: o.y + dy } : { ...o, width: o.width + dx, height: o.height + dy };
      dispatch({ type: 'set', index: drag.index, rect, keep: drag.mode === 'move' ? 'size' : 'position' });
    }
  };

  const endDrag = (event: PointerEvent<HTMLDivElement>) => {
    const drag = dragRef.current;
    if (!drag || drag.pointerId !== event.pointerId) return;
    dragRef.current = null;
    overlayRef.current?.releasePointerCapture?.(event.pointerId);
    const index = drag.index;
    const rect = state.rects[index];
    if (drag.started && rect) {
      const verb = drag.mode === 'draw' ? 'Drew' : drag.mode === 'move' ? 'Moved' : 'Resized';
      setMessage(`${verb} ${describeRect(rect, index).replace(/^R/, 'r')}.`);
    }
  };

  const aspect = width && height ? `${width} / ${height}` : undefined;

  return (
    <div className="mask-editor">
      <p id={helpId} className="hint">
        Drag on the image to draw a rectangle; drag one to move it, its corner to resize it. With the keyboard: focus the image,
        press Enter to add a rectangle, Tab or 1–9 to select one, arrow keys to move it, Shift + arrow keys to resize it, Delete
        to remove it.
      </p>
      <div className="mask-stage" style={aspect ? { aspectRatio: aspect } : undefined}>
        <AuthImage
          src={imageUrl}
          displayWidth={800}
          alt={imageAlt}
          width={width ?? undefined}
          height={height ?? undefined}
          draggable={false}
        />
        <div
          ref={overlayRef}
          className="mask-overlay"
          data-testid="mask-overlay"
          role="application"
          aria-roledescription="mask editor"
          aria-label={`Mask over ${imageAlt}: ${state.rects.length} rectangle${state.rects.length === 1 ? '' : 's'}${
            state.selected !== null ? `, rectangle ${state.selected + 1} selected` : ''
          }`}
          aria-describedby={[helpId, errorId].filter(Boolean).join(' ')}
          tabIndex={0}
          onKeyDown={onKeyDown}
          onPointerDown={(e) => startDrag(e, 'draw', state.rects.length)}
          onPointerMove={onPointerMove}
          onPointerUp={endDrag}
          onPointerCancel={endDrag}
        >
          {state.rects.map((rect, i) => (
            <div
              key={i}
              className={`mask-rect${state.selected === i ? ' is-selected' : ''}`}
              data-testid="mask-rect"
              data-index={i}
              data-selected={state.selected === i ? 'true' : 'false'}
              style={{
                left: `${rect.x * 100}%`,
                top: `${rect.y * 100}%`,
                width: `${rect.width * 100}%`,
                height: `${rect.height * 100}%`,
              }}
              onPointerDown={(e) => startDrag(e, 'move', i)}
            >
              <span className="mask-rect-label" aria-hidden="true">
                {i + 1}
              </span>
              {state.selected === i && (
                <>
                  <span
                    className="mask-rect-delete"
                    aria-hidden="true"
                    title="Remove rectangle"
                    onPointerDown={(e) => {
                      e.preventDefault();
                      e.stopPropagation();
                      apply({ type: 'remove', index: i });
                    }}
                  >
                    ×
                  </span>
                  <span className="mask-rect-handle" aria-hidden="true" onPointerDown={(e) => startDrag(e, 'resize', i)} />
                </>
              )}
            </div>
          ))}
        </div>
      </div>
      <p className="sr-only" aria-live="polite" aria-atomic="true" data-testid="mask-live">
        {message}
      </p>
      {state.rects.length > 0 ? (
        <ol className="mask-list" aria-label="Mask rectangles">
          {state.rects.map((rect, i) => (
            <li key={i} className={state.selected === i ? 'is-selected' : undefined}>
              <span>{describeRect(rect, i)}</span>
              <button
                type="button"
                className="button-small"
                onClick={() => apply({ type: 'select', index: i })}
                aria-pressed={state.selected === i}
                aria-label={`Select rectangle ${i + 1}`}
              >
                Select
              </button>
              <button
                type="button"
                className="button-small button-danger"
                onClick={() => apply({ type: 'remove', index: i })}
                aria-label={`Delete rectangle ${i + 1}`}
              >
                Delete
              </button>
            </li>
          ))}
        </ol>
      ) : (
        <p className="hint">No rectangles: the edit applies to the whole image.</p>
      )}
    </div>
  );
}
