import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { Provider } from 'urql';
import { RefineModal, buildRefineInput } from './RefineModal';
import { EMPTY_SUMMARY, applyEvent } from './RefinementProgress';
import { feed, mockClient } from '../test/mockClient';
import { progressEvent } from '../test/fixtures';

const target = {
  id: 'img0',
  version: 1,
  url: '/files/runs/run1/originals/image_0.png',
  width: 100,
  height: 100,
  label: 'Original 1',
};

function setup() {
  const progress = feed();
  const mock = mockClient({
    RefineImage: (op) => {
      const input = (op.variables as { input: { type: string; prompt?: string; instructions?: string } }).input;
      if (input.type === 'SUBJECT' && !input.instructions) {
        return {
          data: {
            refineImage: {
              refinement: null,
              userErrors: [{ field: ['input', 'instructions'], message: 'subject repair needs instructions or a reference image', code: 'INVALID' }],
            },
          },
        };
      }
      if (input.type === 'PROMPT' && !input.prompt) {
        return {
          data: {
            refineImage: {
              refinement: null,
              userErrors: [
                { field: ['input', 'prompt'], message: 'prompt is required for PROMPT', code: 'INVALID' },
                { field: ['input', 'mask', '0', 'width'], message: 'width is too small', code: 'INVALID' },
                { field: ['input', 'parentId'], message: 'parent is not ready', code: 'NOT_READY' },
              ],
            },
          },
        };
      }
      return { data: { refineImage: { refinement: { id: 'ref1', version: 2, status: 'QUEUED' }, userErrors: [] } } };
    },
    RefinementProgress: () => progress.source,
    CancelRefinement: () => ({ data: { cancelRefinement: { refinement: { id: 'ref1', status: 'CANCELLED' }, userErrors: [] } } }),
  });
  const onCompleted = vi.fn();
  const onQueued = vi.fn();
  const onClose = vi.fn();
  render(
    <Provider value={mock.client}>
      <RefineModal target={target} onClose={onClose} onQueued={onQueued} onCompleted={onCompleted} />
    </Provider>,
  );
  return { mock, progress, onCompleted, onQueued, onClose };
}

describe('RefineModal', () => {
  it('opens as a labelled dialog with three tabs and focus on the selected tab', () => {
    setup();
    const dialog = screen.getByTestId('modal');
    expect(dialog.getAttribute('role')).toBe('dialog');
    expect(screen.getByRole('dialog', { name: 'Refine original 1 (v1)' })).toBe(dialog);
    expect(within(dialog).getAllByRole('tab')).toHaveLength(3);
    expect(document.activeElement).toBe(screen.getByTestId('tab-subject'));
    expect(screen.getByRole('radio', { name: '2 balanced' })).toHaveProperty('checked', true);
  });

  it('shows userErrors next to their fields, then streams progress until COMPLETED', async () => {
    const { mock, progress, onCompleted, onQueued } = setup();
    fireEvent.click(screen.getByTestId('tab-prompt'));
    fireEvent.click(screen.getByTestId('draw-mask-toggle'));
    const overlay = screen.getByTestId('mask-overlay');
    overlay.focus();
    fireEvent.keyDown(overlay, { key: 'Enter' });
    expect(screen.getAllByTestId('mask-rect')).toHaveLength(1);

    fireEvent.click(screen.getByTestId('submit-button'));
    // Read as a sentence, and focus goes to the field at fault rather than staying on Submit.
    expect((await screen.findByTestId('field-error-prompt')).textContent).toBe('Prompt is required for PROMPT.');
    expect(document.activeElement).toBe(screen.getByLabelText('What to change'));
    expect(screen.getByTestId('field-error-mask').textContent).toContain('Rectangle 1: width is too small');
    expect(screen.getByTestId('field-error-form').textContent).toBe('Parent is not ready.');
    expect(screen.getByLabelText('What to change').getAttribute('aria-invalid')).toBe('true');

    fireEvent.change(screen.getByLabelText('What to change'), { target: { value: 'Add sunset lighting' } });
    fireEvent.click(screen.getByRole('radio', { name: '3 free' }));
    fireEvent.click(screen.getByTestId('submit-button'));
    const bar = await screen.findByTestId('progress-bar');
    expect(onQueued).toHaveBeenCalledWith('ref1');
    const sent = mock.named('RefineImage').at(-1)!.variables as { input: Record<string, unknown> };
    expect(sent.input).toEqual({
      parentId: 'img0',
      type: 'PROMPT',
      creativityLevel: 3,
      prompt: 'Add sunset lighting',
      mask: [{ x: 0.375, y: 0.375, width: 0.25, height: 0.25 }],
    });
    expect(bar.getAttribute('aria-valuenow')).toBe('0');

    act(() => progress.push({ refinementProgress: progressEvent(1, 'load_base_image', 'RUNNING', 0.1) }));
    act(() => progress.push({ refinementProgress: progressEvent(2, 'prompt_refine', 'RUNNING', 0.5) }));
    expect(screen.getByTestId('progress-bar').getAttribute('aria-valuenow')).toBe('50');
    expect(screen.getByTestId('progress-bar').getAttribute('aria-valuetext')).toContain('Prompt refine');
    expect(screen.getByTestId('cancel-button')).toBeTruthy();
    act(() => progress.push({ refinementProgress: progressEvent(3, 'job', 'COMPLETED', 1, true) }));
    expect(onCompleted).toHaveBeenCalledWith('ref1');
  });

  it('gives the Subject tab its own mask editor', () => {
    setup();
    fireEvent.click(screen.getByTestId('draw-mask-toggle'));
    const overlay = screen.getByTestId('mask-overlay');
    overlay.focus();
    fireEvent.keyDown(overlay, { key: 'Enter' });
    expect(screen.getAllByTestId('mask-rect')).toHaveLength(1);
    fireEvent.click(screen.getByTestId('tab-prompt'));
    expect(screen.getByTestId('draw-mask-toggle')).toHaveProperty('checked', false);
    fireEvent.click(screen.getByTestId('tab-subject'));
    expect(screen.getByTestId('draw-mask-toggle')).toHaveProperty('checked', true);
    expect(screen.getAllByTestId('mask-rect')).toHaveLength(1);
  });

  it('cancels a running refinement', async () => {
    const { mock } = setup();
    fireEvent.click(screen.getByTestId('tab-text'));
    fireEvent.change(screen.getByLabelText('What to fix in the text'), { target: { value: 'Fix the headline' } });
    fireEvent.click(screen.getByTestId('submit-button'));
    fireEvent.click(await screen.findByTestId('cancel-button'));
    expect(await screen.findByText('The refinement was cancelled.')).toBeTruthy();
    expect(mock.named('CancelRefinement')[0].variables).toEqual({ id: 'ref1' });
    expect(screen.queryByTestId('cancel-button')).toBeNull();
  });

  it('keeps a tab’s errors on that tab: a Subject error never shows under the Text field', async () => {
    setup();
    fireEvent.click(screen.getByTestId('submit-button'));
    const error = await screen.findByTestId('field-error-instructions');
    expect(error.textContent).toBe('Subject repair needs instructions or a reference image.');
    fireEvent.click(screen.getByTestId('tab-text'));
    expect(screen.queryByTestId('field-error-instructions')).toBeNull();
    fireEvent.click(screen.getByTestId('tab-subject'));
    expect(screen.getByTestId('field-error-instructions')).toBeTruthy();
  });

  it('asks before Escape throws away a drawn mask, and Escape in the editor first drops the selection', () => {
    const { onClose } = setup();
    fireEvent.click(screen.getByTestId('tab-prompt'));
    fireEvent.click(screen.getByTestId('draw-mask-toggle'));
    const overlay = screen.getByTestId('mask-overlay');
    overlay.focus();
    fireEvent.keyDown(overlay, { key: 'Enter' });
    fireEvent.keyDown(overlay, { key: 'Escape' });
    expect(screen.getByTestId('mask-live').textContent).toBe('No rectangle selected.');
    expect(screen.queryByTestId('confirm-close')).toBeNull();
    fireEvent.keyDown(overlay, { key: 'Escape' });
    expect(onClose).not.toHaveBeenCalled();
    expect(screen.getByTestId('confirm-close')).toBeTruthy();
    expect(document.activeElement?.textContent).toBe('Keep editing');
    fireEvent.keyDown(document.activeElement!, { key: 'Escape' });
    expect(screen.queryByTestId('confirm-close')).toBeNull();
    expect(screen.getAllByTestId('mask-rect')).toHaveLength(1);
    fireEvent.click(screen.getByRole('button', { name: 'Close dialog' }));
    fireEvent.click(screen.getByTestId('confirm-discard'));
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('Escape closes the dialog', () => {
    const { onClose } = setup();
    fireEvent.keyDown(screen.getByTestId('modal'), { key: 'Escape' });
    expect(onClose).toHaveBeenCalled();
  });
});

describe('buildRefineInput', () => {
  const base = {
    subjectInstructions: ' keep the logo ',
    subjectReference: null,
    subjectDrawMask: false,
    subjectMask: [{ x: 0.5, y: 0.4, width: 0.3, height: 0.5 }],
    textInstructions: 'fix typo',
    prompt: 'sunset',
    drawMask: true,
    mask: [{ x: 0.1, y: 0.1, width: 0.2, height: 0.2 }],
    creativityLevel: 1,
  };

  it('sends only the active tab’s fields', () => {
    expect(buildRefineInput('p', { ...base, type: 'SUBJECT' })).toEqual({
      parentId: 'p',
      type: 'SUBJECT',
      creativityLevel: 1,
      instructions: 'keep the logo',
    });
    expect(buildRefineInput('p', { ...base, type: 'TEXT' })).toEqual({
      parentId: 'p',
      type: 'TEXT',
      creativityLevel: 1,
      instructions: 'fix typo',
    });
  });

  it('sends the Subject tab’s own mask, never the Prompt tab’s', () => {
    expect(buildRefineInput('p', { ...base, type: 'SUBJECT', subjectDrawMask: true })).toEqual({
      parentId: 'p',
      type: 'SUBJECT',
      creativityLevel: 1,
      instructions: 'keep the logo',
      mask: [{ x: 0.5, y: 0.4, width: 0.3, height: 0.5 }],
    });
    expect(buildRefineInput('p', { ...base, type: 'PROMPT' }).mask).toEqual([{ x: 0.1, y: 0.1, width: 0.2, height: 0.2 }]);
    expect(buildRefineInput('p', { ...base, type: 'SUBJECT', subjectMask: [], subjectDrawMask: true }).mask).toBeUndefined();
  });

  it('omits the mask when drawing is off', () => {
    expect(buildRefineInput('p', { ...base, type: 'PROMPT', drawMask: false })).toEqual({
      parentId: 'p',
      type: 'PROMPT',
      creativityLevel: 1,
      prompt: 'sunset',
    });
  });
});

describe('progress summary', () => {
  it('marks the stage a cancelled job was in as cancelled, not still running', () => {
    let s = applyEvent(EMPTY_SUMMARY, progressEvent(1, 'load_base_image', 'COMPLETED', 0.2) as never);
    s = applyEvent(s, progressEvent(2, 'prompt_refine', 'RUNNING', 0.4) as never);
    s = applyEvent(s, progressEvent(3, 'job', 'CANCELLED', 0.4, true) as never);
    expect(s.stages).toEqual([
      { name: 'load_base_image', status: 'COMPLETED' },
      { name: 'prompt_refine', status: 'CANCELLED' },
    ]);
  });

  it('ignores replayed events and records the outcome', () => {
    let s = applyEvent(EMPTY_SUMMARY, progressEvent(1, 'load_base_image', 'RUNNING', 0.2) as never);
    s = applyEvent(s, progressEvent(1, 'load_base_image', 'RUNNING', 0.9) as never);
    expect(s.progress).toBe(0.2);
    s = applyEvent(s, progressEvent(2, 'load_base_image', 'COMPLETED', 0.4) as never);
    s = applyEvent(s, progressEvent(3, 'job', 'FAILED', 0.4, true) as never);
    expect(s.stages).toEqual([{ name: 'load_base_image', status: 'COMPLETED' }]);
    expect(s.outcome).toBe('FAILED');
  });
});
