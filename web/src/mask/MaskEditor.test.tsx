import { describe, expect, it } from 'vitest';
import { useReducer } from 'react';
import { fireEvent, render, screen } from '@testing-library/react';
import { MaskEditor } from './MaskEditor';
import { EMPTY_MASK, maskReducer, type MaskState } from './maskReducer';

let latest: MaskState = EMPTY_MASK;

function Harness() {
  const [state, dispatch] = useReducer(maskReducer, EMPTY_MASK);
  latest = state;
  return <MaskEditor imageUrl="/x.png" imageAlt="Original 1" width={200} height={100} state={state} dispatch={dispatch} />;
}

// jsdom has no layout: give the overlay a 200 × 100 box at the origin.
function layout(el: HTMLElement) {
  el.getBoundingClientRect = () => ({
    left: 0,
    top: 0,
    width: 200,
    height: 100,
    right: 200,
    bottom: 100,
    x: 0,
    y: 0,
    toJSON: () => ({}),
  });
}

const pointer = (x: number, y: number) => ({
  clientX: x,
  clientY: y,
  pointerId: 1,
  button: 0,
  pointerType: 'mouse',
  isPrimary: true,
});

describe('MaskEditor', () => {
  it('is fully keyboard operable and announces changes', () => {
    render(<Harness />);
    const overlay = screen.getByTestId('mask-overlay');
    expect(overlay.tabIndex).toBe(0);
    overlay.focus();
    fireEvent.keyDown(overlay, { key: 'Enter' });
    fireEvent.keyDown(overlay, { key: 'ArrowRight' });
    fireEvent.keyDown(overlay, { key: 'ArrowDown', shiftKey: true });
    expect(latest.rects).toEqual([{ x: 0.385, y: 0.375, width: 0.25, height: 0.26 }]);
    expect(screen.getByTestId('mask-live').textContent).toContain('Rectangle 1: left 39%, top 38%, 25% wide, 26% high');
    const rect = screen.getByTestId('mask-rect');
    expect(rect.style.left).toBe('38.5%');
    expect(rect.dataset.selected).toBe('true');
    fireEvent.keyDown(overlay, { key: 'Delete' });
    expect(screen.queryByTestId('mask-rect')).toBeNull();
    expect(screen.getByTestId('mask-live').textContent).toContain('No rectangles left');
  });

  it('draws, moves and resizes rectangles with the pointer', () => {
    render(<Harness />);
    const overlay = screen.getByTestId('mask-overlay');
    layout(overlay);
    fireEvent.pointerDown(overlay, pointer(20, 10));
    fireEvent.pointerMove(overlay, pointer(60, 50));
    fireEvent.pointerMove(overlay, pointer(100, 60));
    fireEvent.pointerUp(overlay, pointer(100, 60));
    expect(latest.rects).toEqual([{ x: 0.1, y: 0.1, width: 0.4, height: 0.5 }]);

    fireEvent.pointerDown(screen.getByTestId('mask-rect'), pointer(40, 30));
    fireEvent.pointerMove(overlay, pointer(80, 40));
    fireEvent.pointerUp(overlay, pointer(80, 40));
    expect(latest.rects[0]).toEqual({ x: 0.3, y: 0.2, width: 0.4, height: 0.5 });

    const handle = screen.getByTestId('mask-rect').querySelector('.mask-rect-handle')!;
    fireEvent.pointerDown(handle, pointer(140, 70));
    fireEvent.pointerMove(overlay, pointer(300, 90));
    fireEvent.pointerUp(overlay, pointer(300, 90));
    expect(latest.rects[0]).toEqual({ x: 0.3, y: 0.2, width: 0.7, height: 0.7 });
  });

  it('offers a Delete button per rectangle for pointer and screen-reader users', () => {
    render(<Harness />);
    const overlay = screen.getByTestId('mask-overlay');
    fireEvent.keyDown(overlay, { key: 'Enter' });
    fireEvent.keyDown(overlay, { key: 'Enter' });
    fireEvent.click(screen.getByRole('button', { name: 'Delete rectangle 1' }));
    expect(latest.rects).toHaveLength(1);
  });
});
