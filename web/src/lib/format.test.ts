import { describe, expect, it } from 'vitest';
import { elapsedMs, formatDuration, formatPercent, formatUsd, humanizeStage, refinementTypeLabel, statusLabel } from './format';

describe('cost formatting', () => {
  it('shows dollars with two decimals from one dollar up', () => {
    expect(formatUsd(1)).toBe('$1.00');
    expect(formatUsd(12.345)).toBe('$12.35');
    expect(formatUsd(1234.5)).toBe('$1,234.50');
  });

  it('keeps up to four decimals below a dollar so small costs stay visible', () => {
    expect(formatUsd(0.04)).toBe('$0.04');
    expect(formatUsd(0.0423)).toBe('$0.0423');
    expect(formatUsd(0.00421)).toBe('$0.0042');
    expect(formatUsd(0.5)).toBe('$0.50');
  });

  it('handles zero, tiny, missing and negative values', () => {
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(0.00001)).toBe('<$0.0001');
    expect(formatUsd(null)).toBe('—');
    expect(formatUsd(undefined)).toBe('—');
    expect(formatUsd(Number.NaN)).toBe('—');
    expect(formatUsd(-0.25)).toBe('-$0.25');
  });
});

describe('other formatting', () => {
  it('formats durations', () => {
    expect(formatDuration(350)).toBe('350 ms');
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    expect(formatDuration(120_000)).toBe('2 min');
    expect(formatDuration(null)).toBe('—');
  });

  it('computes elapsed time from ISO timestamps', () => {
    expect(elapsedMs('2025-01-01T00:00:00Z', '2025-01-01T00:00:02.5Z')).toBe(2500);
    expect(elapsedMs(null, '2025-01-01T00:00:00Z')).toBeNull();
  });

  it('turns identifiers into words', () => {
    expect(humanizeStage('load_base_image')).toBe('Load base image');
    expect(humanizeStage('job')).toBe('Job');
    expect(refinementTypeLabel('PROMPT')).toBe('Prompt edit');
    expect(statusLabel('RUNNING')).toBe('Running');
    expect(formatPercent(0.375)).toBe('38%');
  });
});

describe('resized image URLs', () => {
  it('offers the server widths below the original and picks the smallest that fits the screen', async () => {
    const { fittedUrl, sizedUrl, thumbnailSrcSet } = await import('../components/AuthImage');
    const url = '/files/runs/r/originals/image_0.png';
    expect(sizedUrl(url, 480)).toBe(`${url}?w=480`);
    expect(thumbnailSrcSet(url, 700)).toBe(`${url}?w=160 160w, ${url}?w=320 320w, ${url}?w=480 480w, ${url}?w=640 640w, ${url} 700w`);
    expect(fittedUrl(url, 6000, 400, 1)).toBe(`${url}?w=480`);
    expect(fittedUrl(url, 6000, 400, 2)).toBe(`${url}?w=960`);
    expect(fittedUrl(url, 6000, 1500, 2)).toBe(url);
    expect(fittedUrl(url, 300, 400, 1)).toBe(url);
  });
});
