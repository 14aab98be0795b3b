import { describe, expect, it } from 'vitest';
import { childrenByParent, flattenTree, type TreeItem } from './versionTree';

const roots = [
  { id: 'img0', generationIndex: 0 },
  { id: 'img1', generationIndex: 1 },
];

// Oldest first, as Run.refinements returns them.
const items: TreeItem[] = [
  { id: 'a', version: 2, generationIndex: 0, parent: { id: 'img0' } },
  { id: 'b', version: 2, generationIndex: 0, parent: { id: 'img0' } },
  { id: 'c', version: 3, generationIndex: 0, parent: { id: 'a' } },
  { id: 'd', version: 4, generationIndex: 0, parent: { id: 'c' } },
  { id: 'e', version: 2, generationIndex: 1, parent: { id: 'img1' } },
  { id: 'f', version: 3, generationIndex: 0, parent: { id: 'a' } },
];

describe('version tree', () => {
  it('flattens depth first, oldest child first, with depth and parent version', () => {
    const rows = flattenTree('img0', 1, childrenByParent(roots, items));
    expect(rows.map((r) => [r.item.id, r.depth, r.indent, r.parentVersion])).toEqual([
      ['a', 1, 0, 1],
      ['c', 2, 1, 2],
      ['d', 3, 2, 3],
      ['f', 2, 1, 2],
      ['b', 1, 0, 1],
    ]);
    expect(rows.find((r) => r.item.id === 'a')?.childCount).toBe(2);
  });

  it('keeps each original’s tree separate', () => {
    const rows = flattenTree('img1', 1, childrenByParent(roots, items));
    expect(rows.map((r) => r.item.id)).toEqual(['e']);
  });

  it('caps indentation for long chains', () => {
    const chain: TreeItem[] = Array.from({ length: 12 }, (_, i) => ({
      id: `r${i}`,
      version: i + 2,
      generationIndex: 0,
      parent: { id: i === 0 ? 'img0' : `r${i - 1}` },
    }));
    const rows = flattenTree('img0', 1, childrenByParent(roots, chain), 6);
    expect(rows).toHaveLength(12);
    expect(rows[11].depth).toBe(12);
    expect(rows[11].indent).toBe(6);
    expect(rows.map((r) => r.item.version)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
  });

  it('hangs refinements with an unknown parent under their original', () => {
    const orphan: TreeItem = { id: 'z', version: 5, generationIndex: 1, parent: { id: 'missing' } };
    const rows = flattenTree('img1', 1, childrenByParent(roots, [...items, orphan]));
    expect(rows.map((r) => r.item.id)).toEqual(['e', 'z']);
  });

  it('survives a cycle in bad data', () => {
    const loop: TreeItem[] = [
      { id: 'p', version: 2, generationIndex: 0, parent: { id: 'img0' } },
      { id: 'q', version: 3, generationIndex: 0, parent: { id: 'p' } },
      { id: 'p', version: 4, generationIndex: 0, parent: { id: 'q' } },
    ];
    const rows = flattenTree('img0', 1, childrenByParent(roots, loop));
    expect(rows.map((r) => r.item.id)).toEqual(['p', 'q']);
  });
});
