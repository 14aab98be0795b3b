// State of the mask editor as a pure reducer so mouse, touch and keyboard edits follow the same
// rules (rectangles stay inside the image, never shrink to nothing) and can be unit tested.

/** A rectangle in fractions (0..1) of the image, origin top-left; the shape the API takes. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The rectangles and which one the keyboard acts on. */
export interface MaskState {
  rects: Rect[];
  selected: number | null;
}

/** Everything that can change the mask. */
export type MaskAction =
  | { type: 'add'; rect?: Rect }
  | { type: 'select'; index: number | null }
  | { type: 'move'; dx: number; dy: number }
  | { type: 'resize'; dw: number; dh: number }
  | { type: 'remove'; index?: number }
  | { type: 'set'; index: number; rect: Rect; keep: 'size' | 'position' }
  | { type: 'clear' };

/** One arrow-key step: 1% of the image. */
export const STEP = 0.01;
/** Smallest side, so a rectangle can always be seen and grabbed. */
export const MIN_SIZE = 0.02;
/** Side of a rectangle added from the keyboard. */
export const DEFAULT_SIZE = 0.25;

/** An empty mask. */
export const EMPTY_MASK: MaskState = { rects: [], selected: null };

const round = (v: number) => Math.round(v * 10000) / 10000;
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

// Fractions are rounded to 4 decimals so repeated 1% steps do not drift (0.1 + 0.01 + ...).
// `keep: 'size'` (moving) pushes the rectangle back inside; `keep: 'position'` (resizing) trims it.
export function clampRect(rect: Rect, keep: 'size' | 'position' = 'position'): Rect {
  const x0 = clamp(rect.x, 0, 1 - MIN_SIZE);
  const y0 = clamp(rect.y, 0, 1 - MIN_SIZE);
  if (keep === 'size') {
    const width = clamp(rect.width, MIN_SIZE, 1);
    const height = clamp(rect.height, MIN_SIZE, 1);
    return {
      x: round(clamp(rect.x, 0, 1 - width)),
      y: round(clamp(rect.y, 0, 1 - height)),
      width: round(width),
      height: round(height),
    };
  }
  return {
    x: round(x0),
    y: round(y0),
    width: round(clamp(rect.width, MIN_SIZE, 1 - x0)),
    height: round(clamp(rect.height, MIN_SIZE, 1 - y0)),
  };
}

// A rectangle from two corner points in any order, as when dragging up-left.
export function rectFromPoints(ax: number, ay: number, bx: number, by: number): Rect {
  const x = clamp(Math.min(ax, bx), 0, 1);
  const y = clamp(Math.min(ay, by), 0, 1);
  return { x, y, width: clamp(Math.max(ax, bx), 0, 1) - x, height: clamp(Math.max(ay, by), 0, 1) - y };
}

/** The rectangle Enter adds: centred, 25% × 25%. */
export function defaultRect(): Rect {
  const offset = (1 - DEFAULT_SIZE) / 2;
  return { x: offset, y: offset, width: DEFAULT_SIZE, height: DEFAULT_SIZE };
}

// Actions on "the selected rectangle" are no-ops without one, so stray keys cannot throw.
export function maskReducer(state: MaskState, action: MaskAction): MaskState {
  switch (action.type) {
    case 'add': {
      const rect = clampRect(action.rect ?? defaultRect());
      return { rects: [...state.rects, rect], selected: state.rects.length };
    }
    case 'select': {
      if (action.index === null) return { ...state, selected: null };
      if (action.index < 0 || action.index >= state.rects.length) return state;
      return { ...state, selected: action.index };
    }
    case 'move': {
      const i = state.selected;
      if (i === null || !state.rects[i]) return state;
      const r = state.rects[i];
      return replace(state, i, clampRect({ ...r, x: r.x + action.dx, y: r.y + action.dy }, 'size'));
    }
    case 'resize': {
      const i = state.selected;
      if (i === null || !state.rects[i]) return state;
      const r = state.rects[i];
      return replace(state, i, clampRect({ ...r, width: r.width + action.dw, height: r.height + action.dh }, 'position'));
    }
    case 'set': {
      if (!state.rects[action.index]) return state;
      return { ...replace(state, action.index, clampRect(action.rect, action.keep)), selected: action.index };
    }
    case 'remove': {
      const i = action.index ?? state.selected;
      if (i === null || i === undefined || !state.rects[i]) return state;
      const rects = state.rects.filter((_, j) => j !== i);
      let selected = state.selected;
      if (rects.length === 0) selected = null;
      else if (selected === i) selected = Math.min(i, rects.length - 1);
      else if (selected !== null && selected > i) selected -= 1;
      return { rects, selected };
    }
    case 'clear':
      return EMPTY_MASK;
  }
}

function replace(state: MaskState, index: number, rect: Rect): MaskState {
  const rects = state.rects.slice();
  rects[index] = rect;
  return { ...state, rects };
}

/** The keyboard event fields the editor reads. */
export interface KeyInput {
  key: string;
  shiftKey?: boolean;
}

// Tab and Shift+Tab cycle through the rectangles but return null at either end, so the browser
// moves focus out of the editor and the keyboard is never trapped in it.
export function keyToAction(event: KeyInput, state: MaskState): MaskAction | null {
  const { key } = event;
  const shift = !!event.shiftKey;
  const count = state.rects.length;
  const sel = state.selected;
  switch (key) {
    case 'Enter':
    case 'Insert':
      return { type: 'add' };
    case 'Escape':
      return sel === null ? null : { type: 'select', index: null };
    case 'Delete':
    case 'Backspace':
      return sel === null ? null : { type: 'remove' };
    case 'Tab':
      if (count === 0) return null;
      if (shift) return sel !== null && sel > 0 ? { type: 'select', index: sel - 1 } : null;
      if (sel === null) return { type: 'select', index: 0 };
      return sel < count - 1 ? { type: 'select', index: sel + 1 } : null;
    case 'ArrowLeft':
      return sel === null ? null : shift ? { type: 'resize', dw: -STEP, dh: 0 } : { type: 'move', dx: -STEP, dy: 0 };
    case 'ArrowRight':
      return sel === null ? null : shift ? { type: 'resize', dw: STEP, dh: 0 } : { type: 'move', dx: STEP, dy: 0 };
    case 'ArrowUp':
      return sel === null ? null : shift ? { type: 'resize', dw: 0, dh: -STEP } : { type: 'move', dx: 0, dy: -STEP };
    case 'ArrowDown':
      return sel === null ? null : shift ? { type: 'resize', dw: 0, dh: STEP } : { type: 'move', dx: 0, dy: STEP };
    default:
      if (/^[1-9]$/.test(key)) {
        const index = Number(key) - 1;
        return index < count ? { type: 'select', index } : null;
      }
      return null;
  }
}

// Words for one rectangle, used by the live region and the visible list alike.
export function describeRect(rect: Rect, index: number): string {
  const pct = (v: number) => `${Math.round(v * 100)}%`;
  return `Rectangle ${index + 1}: left ${pct(rect.x)}, top ${pct(rect.y)}, ${pct(rect.width)} wide, ${pct(rect.height)} high`;
}

// What a screen reader should hear after an edit; empty when nothing changed.
export function announce(prev: MaskState, next: MaskState, action: MaskAction): string {
  if (prev === next) return '';
  switch (action.type) {
    case 'add':
      return `Added. ${describeRect(next.rects[next.rects.length - 1], next.rects.length - 1)}. ${next.rects.length} in total.`;
    case 'remove': {
      const left = next.rects.length;
      return `Removed rectangle. ${left === 0 ? 'No rectangles left.' : `${left} left${next.selected !== null ? `, rectangle ${next.selected + 1} selected` : ''}.`}`;
    }
    case 'select':
      return next.selected === null
        ? 'No rectangle selected.'
        : `Selected. ${describeRect(next.rects[next.selected], next.selected)}.`;
    case 'move':
    case 'resize':
    case 'set':
      return next.selected === null ? '' : `${describeRect(next.rects[next.selected], next.selected)}.`;
    case 'clear':
      return 'All rectangles removed.';
  }
}
