import { describe, expect, it } from 'vitest';
import { nearlyFull, usageText } from './UsagePanel';

describe('usage formatting', () => {
  it('shows use against the limit, or says there is none', () => {
    expect(usageText({ used: 3, limit: 20 })).toBe('3 / 20');
    expect(usageText({ used: 3, limit: 0 })).toBe('3 (no limit)');
  });
  it('flags a limit at 90 % or more, never an unlimited one', () => {
    expect(nearlyFull({ used: 18, limit: 20 })).toBe(true);
    expect(nearlyFull({ used: 17, limit: 20 })).toBe(false);
    expect(nearlyFull({ used: 1000, limit: 0 })).toBe(false);
  });
});
