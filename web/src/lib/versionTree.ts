// The run's refinements arrive as one flat list (oldest first) with each one's parent id; this
// rebuilds the version tree under each original and flattens it into indented rows for display.

/** The fields the tree needs from a refinement. */
export interface TreeItem {
  id: string;
  version: number;
  generationIndex: number;
  parent: { id: string };
}

/** The fields the tree needs from an original image. */
export interface TreeRoot {
  id: string;
  generationIndex: number;
}

/** One card's place in the flattened tree. */
export interface TreeRow<T extends TreeItem> {
  item: T;
  /** 1 for a refinement of the original, 2 for a refinement of that, and so on. */
  depth: number;
  /** Visual indentation steps, capped so deep chains stay readable on small screens. */
  indent: number;
  /** Version of the image this one was made from. */
  parentVersion: number;
  /** Refinements made from this one. */
  childCount: number;
}

/** How many indentation steps a chain may take before it stops moving right. */
export const MAX_INDENT = 6;

// Children per parent id in the list's order (oldest first); a refinement whose parent is not in
// the list (a partial page) hangs under its original so it is never lost from view.
export function childrenByParent<T extends TreeItem>(roots: readonly TreeRoot[], items: readonly T[]): Map<string, T[]> {
  const known = new Set<string>([...roots.map((r) => r.id), ...items.map((i) => i.id)]);
  const rootByIndex = new Map(roots.map((r) => [r.generationIndex, r.id]));
  const map = new Map<string, T[]>();
  for (const item of items) {
    let parentId = item.parent.id;
    if (!known.has(parentId) || parentId === item.id) {
      const fallback = rootByIndex.get(item.generationIndex);
      if (fallback === undefined) continue;
      parentId = fallback;
    }
    const list = map.get(parentId);
    if (list) list.push(item);
    else map.set(parentId, [item]);
  }
  return map;
}

// Depth-first, oldest child first, so a chain v2 → v3 → v4 reads top to bottom with each step
// indented under the one it came from.
export function flattenTree<T extends TreeItem>(
  rootId: string,
  rootVersion: number,
  children: ReadonlyMap<string, readonly T[]>,
  maxIndent: number = MAX_INDENT,
): TreeRow<T>[] {
  const rows: TreeRow<T>[] = [];
  const seen = new Set<string>([rootId]);
  const visit = (parentId: string, parentVersion: number, depth: number) => {
    for (const item of children.get(parentId) ?? []) {
      if (seen.has(item.id)) continue;
      seen.add(item.id);
      rows.push({
        item,
        depth,
        indent: Math.min(depth - 1, maxIndent),
        parentVersion,
        childCount: children.get(item.id)?.length ?? 0,
      });
      visit(item.id, item.version, depth + 1);
    }
  };
  visit(rootId, rootVersion, 1);
  return rows;
}
