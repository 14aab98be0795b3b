import { describe, expect, it } from 'vitest';
import { FORM_KEY, fieldKeyFromPath, groupUserErrors, stripItemPrefix } from './userErrors';

describe('userError field paths', () => {
  it('maps ["input", name] to the field name', () => {
    expect(fieldKeyFromPath(['input', 'prompt'])).toEqual({ key: 'prompt', index: null });
    expect(fieldKeyFromPath(['input', 'referenceImage'])).toEqual({ key: 'referenceImage', index: null });
  });

  it('maps list item paths to the list with the item index', () => {
    expect(fieldKeyFromPath(['input', 'mask', '0', 'width'])).toEqual({ key: 'mask', index: 0 });
    expect(fieldKeyFromPath(['input', 'images', '2'])).toEqual({ key: 'images', index: 2 });
  });

  it('maps missing or empty paths to the form', () => {
    expect(fieldKeyFromPath(null)).toEqual({ key: FORM_KEY, index: null });
    expect(fieldKeyFromPath([])).toEqual({ key: FORM_KEY, index: null });
    expect(fieldKeyFromPath(['input'])).toEqual({ key: FORM_KEY, index: null });
  });

  it('keeps top-level arguments such as id', () => {
    expect(fieldKeyFromPath(['id'])).toEqual({ key: 'id', index: null });
  });

  it('groups messages per known field and sends the rest to the form', () => {
    const grouped = groupUserErrors(
      [
        { field: ['input', 'prompt'], message: 'prompt is required', code: 'INVALID' },
        { field: ['input', 'mask', '1', 'width'], message: 'width must be > 0', code: 'INVALID' },
        { field: ['input', 'parentId'], message: 'no such image', code: 'NOT_FOUND' },
        { field: null, message: 'refinement is not available', code: 'UNAVAILABLE' },
        { field: ['input', 'prompt'], message: 'too long', code: 'INVALID' },
      ],
      ['prompt', 'mask'],
      { mask: 'Rectangle' },
    );
    expect(grouped).toEqual({
      prompt: ['prompt is required', 'too long'],
      mask: ['Rectangle 2: width must be > 0'],
      form: ['no such image', 'refinement is not available'],
    });
  });

  it('returns an empty map for no errors', () => {
    expect(groupUserErrors([], ['prompt'])).toEqual({});
    expect(groupUserErrors(undefined, ['prompt'])).toEqual({});
  });

  it("replaces the server's 0-based item prefix with the form's 1-based one", () => {
    const grouped = groupUserErrors(
      [{ field: ['input', 'mask', '0', 'height'], message: 'rectangle 0: height must be within 0..1', code: 'INVALID' }],
      ['mask'],
      { mask: 'Rectangle' },
    );
    expect(grouped).toEqual({ mask: ['Rectangle 1: height must be within 0..1'] });
    expect(stripItemPrefix('Image 3 - too large', 'Image')).toBe('too large');
    expect(stripItemPrefix('the rectangle 2 is bad', 'Rectangle')).toBe('the rectangle 2 is bad');
  });
});

describe('friendly messages', () => {
  it('turns API wording into sentences that say what to do', async () => {
    const { friendlyMessage } = await import('./userErrors');
    expect(friendlyMessage('prompt (what to change) is required')).toBe('Please describe what to change.');
    expect(friendlyMessage('instructions (what text to fix) is required')).toBe('Please describe what text to fix.');
    expect(friendlyMessage('rectangle 1 runs past the right edge')).toBe('Rectangle 1 runs past the right edge.');
    expect(friendlyMessage('Already a sentence.')).toBe('Already a sentence.');
  });
});
