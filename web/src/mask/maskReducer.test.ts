import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SIZE,
  EMPTY_MASK,
  MIN_SIZE,
  announce,
  clampRect,
  defaultRect,
  keyToAction,
  maskReducer,
  rectFromPoints,
  type MaskAction,
  type MaskState,
} from './maskReducer';

// Feeds key presses through keyToAction + maskReducer, as the editor does.
function press(state: MaskState, ...keys: (string | [string, boolean])[]): MaskState {
  return keys.reduce((s, k) => {
    const [key, shiftKey] = Array.isArray(k) ? k : [k, false];
    const action = keyToAction({ key, shiftKey }, s);
    return action ? maskReducer(s, action) : s;
  }, state);
}

describe('mask keyboard reducer', () => {
  it('Enter adds a centred 25% × 25% rectangle and selects it', () => {
    const s = press(EMPTY_MASK, 'Enter');
    expect(s.rects).toEqual([{ x: 0.375, y: 0.375, width: 0.25, height: 0.25 }]);
    expect(s.selected).toBe(0);
    const s2 = press(s, 'Enter');
    expect(s2.rects).toHaveLength(2);
    expect(s2.selected).toBe(1);
    expect(defaultRect().width).toBe(DEFAULT_SIZE);
  });

  it('arrow keys move the selected rectangle by 1%', () => {
    const s = press(EMPTY_MASK, 'Enter', 'ArrowRight', 'ArrowRight', 'ArrowDown', 'ArrowLeft', 'ArrowUp', 'ArrowUp');
    expect(s.rects[0]).toEqual({ x: 0.385, y: 0.365, width: 0.25, height: 0.25 });
  });

  it('Shift + arrow keys resize by 1% without moving the origin', () => {
    const s = press(
      EMPTY_MASK,
      'Enter',
      ['ArrowRight', true],
      ['ArrowRight', true],
      ['ArrowDown', true],
      ['ArrowUp', true],
      ['ArrowUp', true],
    );
    expect(s.rects[0]).toEqual({ x: 0.375, y: 0.375, width: 0.27, height: 0.24 });
    const narrower = press(s, ['ArrowLeft', true]);
    expect(narrower.rects[0].width).toBe(0.26);
  });

  it('does not drift after many 1% steps', () => {
    const keys = Array.from({ length: 37 }, () => 'ArrowLeft');
    const s = press(EMPTY_MASK, 'Enter', ...keys);
    expect(s.rects[0].x).toBe(0.005);
    expect(String(s.rects[0].x).length).toBeLessThanOrEqual(6);
  });

  it('clamps moves to the image: x stays in 0..1-width', () => {
    const left = press(EMPTY_MASK, 'Enter', ...Array.from({ length: 60 }, () => 'ArrowLeft'));
    expect(left.rects[0].x).toBe(0);
    const right = press(EMPTY_MASK, 'Enter', ...Array.from({ length: 60 }, () => 'ArrowRight'));
    expect(right.rects[0].x).toBe(0.75);
    const down = press(EMPTY_MASK, 'Enter', ...Array.from({ length: 60 }, () => 'ArrowDown'));
    expect(down.rects[0].y).toBe(0.75);
    const up = press(EMPTY_MASK, 'Enter', ...Array.from({ length: 60 }, () => 'ArrowUp'));
    expect(up.rects[0].y).toBe(0);
  });

  it('clamps resizes: never past the right/bottom edge, never below the minimum size', () => {
    const wide = press(EMPTY_MASK, 'Enter', ...Array.from({ length: 100 }, () => ['ArrowRight', true] as [string, boolean]));
    expect(wide.rects[0].width).toBe(0.625);
    expect(wide.rects[0].x + wide.rects[0].width).toBeLessThanOrEqual(1);
    const tiny = press(EMPTY_MASK, 'Enter', ...Array.from({ length: 100 }, () => ['ArrowUp', true] as [string, boolean]));
    expect(tiny.rects[0].height).toBe(MIN_SIZE);
  });

  it('Delete and Backspace remove the selected rectangle', () => {
    const two = press(EMPTY_MASK, 'Enter', 'Enter');
    const one = press(two, 'Delete');
    expect(one.rects).toHaveLength(1);
    expect(one.selected).toBe(0);
    const none = press(one, 'Backspace');
    expect(none).toEqual({ rects: [], selected: null });
    expect(keyToAction({ key: 'Delete' }, none)).toBeNull();
  });

  it('removing an earlier rectangle keeps the same one selected', () => {
    const three = press(EMPTY_MASK, 'Enter', 'Enter', 'Enter');
    const s = maskReducer(three, { type: 'remove', index: 0 });
    expect(s.rects).toHaveLength(2);
    expect(s.selected).toBe(1);
  });

  it('Tab and Shift+Tab cycle rectangles, then let focus leave at either end', () => {
    const s = press(EMPTY_MASK, 'Enter', 'Enter', 'Enter');
    expect(s.selected).toBe(2);
    expect(keyToAction({ key: 'Tab' }, s)).toBeNull();
    const back = press(s, ['Tab', true], ['Tab', true]);
    expect(back.selected).toBe(0);
    expect(keyToAction({ key: 'Tab', shiftKey: true }, back)).toBeNull();
    expect(press(back, 'Tab').selected).toBe(1);
    expect(keyToAction({ key: 'Tab' }, EMPTY_MASK)).toBeNull();
  });

  it('number keys select a rectangle by its label', () => {
    const s = press(EMPTY_MASK, 'Enter', 'Enter', 'Enter', '1');
    expect(s.selected).toBe(0);
    expect(press(s, '3').selected).toBe(2);
    expect(keyToAction({ key: '4' }, s)).toBeNull();
  });

  it('arrow keys do nothing without a selection', () => {
    expect(keyToAction({ key: 'ArrowLeft' }, EMPTY_MASK)).toBeNull();
    const s: MaskState = { rects: [defaultRect()], selected: null };
    expect(maskReducer(s, { type: 'move', dx: 0.1, dy: 0 })).toBe(s);
  });

  it('pointer edits are clamped the same way', () => {
    const s = maskReducer(EMPTY_MASK, { type: 'add', rect: rectFromPoints(0.9, 0.9, 0.2, 0.5) });
    expect(s.rects[0]).toEqual({ x: 0.2, y: 0.5, width: 0.7, height: 0.4 });
    const moved = maskReducer(s, { type: 'set', index: 0, rect: { x: 0.8, y: -0.3, width: 0.7, height: 0.4 }, keep: 'size' });
    expect(moved.rects[0]).toEqual({ x: 0.3, y: 0, width: 0.7, height: 0.4 });
    const resized = maskReducer(s, { type: 'set', index: 0, rect: { x: 0.2, y: 0.5, width: 2, height: -1 }, keep: 'position' });
    expect(resized.rects[0]).toEqual({ x: 0.2, y: 0.5, width: 0.8, height: MIN_SIZE });
  });

  it('clampRect keeps every value within 0..1', () => {
    const r = clampRect({ x: -5, y: 7, width: 9, height: 0 });
    for (const v of [r.x, r.y, r.width, r.height]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(r.y + r.height).toBeLessThanOrEqual(1);
  });

  it('announces each change in words', () => {
    const add: MaskAction = { type: 'add' };
    const s = maskReducer(EMPTY_MASK, add);
    expect(announce(EMPTY_MASK, s, add)).toMatch(/Added\. Rectangle 1: left 38%, top 38%, 25% wide, 25% high/);
    const remove: MaskAction = { type: 'remove' };
    expect(announce(s, maskReducer(s, remove), remove)).toMatch(/No rectangles left/);
  });
});
