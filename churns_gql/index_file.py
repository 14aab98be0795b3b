"""refinements.json as bytes: the `json.dumps(index, indent=2)` layout, built from each entry's own text.

A completion changes one entry of an index that may hold thousands. Keeping every entry's encoded text
(and the bytes last written) lets the next rewrite skip parsing when the file is still what this process
wrote, and encode only the new entry: the rest is a join. The bytes are identical to json.dumps's.
"""

from __future__ import annotations

import json
import textwrap
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# Runs whose last index this process keeps (a worker serves few runs at a time).
CACHED_RUNS = 32


@dataclass(frozen=True)
class IndexText:
    """One version of a run's index: its entries, each entry's text, and the file's bytes."""

    entries: list[dict[str, Any]]
    chunks: list[str]
    data: bytes

    def as_dict(self) -> dict[str, Any]:
        """The index as json.loads would return it."""
        return json.loads(self.data)


def entry_text(entry: dict[str, Any]) -> str:
    """One entry as it appears inside the `refinements` list (indent=2, nested two levels)."""
    return textwrap.indent(json.dumps(entry, indent=2), "    ")


def build(entries: list[dict[str, Any]], chunks: list[str] | None = None) -> IndexText:
    """The index of `entries` with its totals; `chunks` are their texts when already known."""
    chunks = chunks if chunks is not None else [entry_text(e) for e in entries]
    total_cost = round(sum(float(e.get("cost") or 0) for e in entries), 6)
    listed = '"refinements": [\n' + ",\n".join(chunks) + "\n  ]" if chunks else '"refinements": []'
    text = f'{{\n  {listed},\n  "total_cost": {json.dumps(total_cost)},\n  "total_refinements": {len(entries)}\n}}'
    return IndexText(entries, chunks, text.encode())


def parse(data: bytes) -> IndexText:
    """An index read from storage (any layout), re-encoded entry by entry."""
    entries = json.loads(data).get("refinements", [])
    return IndexText(entries, [entry_text(e) for e in entries], data)


class IndexCache:
    """The last index this process read or wrote, per run (most recent runs only)."""

    def __init__(self) -> None:
        self._runs: OrderedDict[str, IndexText] = OrderedDict()

    def current(self, run: str, data: bytes | None) -> IndexText:
        """The index whose bytes are `data` (None: no file yet), from the cache when they are the bytes kept."""
        if data is None:
            return build([])
        kept = self._runs.get(run)
        return kept if kept is not None and kept.data == data else parse(data)

    def keep(self, run: str, index: IndexText) -> None:
        """Remember the version just written."""
        self._runs[run] = index
        self._runs.move_to_end(run)
        while len(self._runs) > CACHED_RUNS:
            self._runs.popitem(last=False)
