"""refinements.json as bytes: the `json.dumps(index, indent=2)` layout, built from each entry's own text.

A completion changes one entry of an index that may hold thousands. Keeping every entry's encoded text
(and what identifies the version last written) lets the next write skip parsing when the file is still
what this process wrote, and encode only the new entry. When entries are only added, the file need not
be rewritten at all: the bytes after the last entry (the trailer, with the totals) are replaced by the
new entries and a new trailer (`tail_patch`, written by in_place.py). The bytes stay identical to
json.dumps's either way.
"""

from __future__ import annotations

import json
import textwrap
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# Runs whose last index this process keeps (a worker serves few runs at a time).
CACHED_RUNS = 32


@dataclass
class IndexText:
    """One version of a run's index: its entries, each entry's text, and what identifies the file's bytes.

    `data` is the whole file when it was built or read whole (a bucket's cache compares it); after a tail
    patch only `size`, `trailer` and the local file's `stamp` (in_place.Stamp) describe it. `canonical`
    says whether the file is exactly build(entries), the layout a tail patch continues.
    """

    entries: list[dict[str, Any]]
    chunks: list[str]
    costs: list[float]
    cost_sum: float
    ids: set[Any]
    size: int
    trailer: bytes
    data: bytes | None
    canonical: bool = True
    stamp: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The index as json.loads would return it."""
        return {
            "refinements": list(self.entries),
            "total_cost": round(self.cost_sum, 6),
            "total_refinements": len(self),
        }

    def __len__(self) -> int:
        return len(self.entries)

    def extend(self, added: list[dict[str, Any]], patch: TailPatch, stamp: Any) -> None:
        """Become the version a tail patch of `added` wrote (once the patch is on disk)."""
        self.entries += added
        self.chunks += patch.chunks
        self.costs += [_cost(e) for e in added]
        self.cost_sum = patch.cost_sum
        self.ids |= {e.get("job_id") for e in added}
        self.size, self.trailer, self.data, self.stamp = patch.offset + len(patch.tail), patch.trailer, None, stamp


@dataclass(frozen=True)
class TailPatch:
    """New entries as a patch of the file: `tail` replaces the bytes from `offset` on."""

    offset: int
    tail: bytes
    trailer: bytes
    chunks: list[str]
    cost_sum: float


def entry_text(entry: dict[str, Any]) -> str:
    """One entry as it appears inside the `refinements` list (indent=2, nested two levels)."""
    return textwrap.indent(json.dumps(entry, indent=2), "    ")


def _cost(entry: dict[str, Any]) -> float:
    return float(entry.get("cost") or 0)


# Whether sum() of floats is a plain left fold (CPython 3.11; 3.12 compensates): then sum(new, start=sum(old))
# is sum(old + new) to the bit and a completion need not add up the whole index again.
_LEFT_FOLD = sum([1e100, 1.0, -1e100]) == 0.0


def _sum_with(index: IndexText, added: list[float]) -> float:
    """sum() of `index`'s costs followed by `added`, exactly as sum() of the whole list gives it."""
    return sum(added, index.cost_sum) if _LEFT_FOLD else sum(index.costs + added)


def _trailer(cost_sum: float, count: int) -> str:
    """What follows the last entry of a non-empty index."""
    return f'\n  ],\n  "total_cost": {json.dumps(round(cost_sum, 6))},\n  "total_refinements": {count}\n}}'


def build(entries: list[dict[str, Any]], chunks: list[str] | None = None) -> IndexText:
    """The index of `entries` with its totals; `chunks` are their texts when already known."""
    chunks = chunks if chunks is not None else [entry_text(e) for e in entries]
    costs = [_cost(e) for e in entries]
    cost_sum = sum(costs)
    if chunks:
        trailer = _trailer(cost_sum, len(costs))
        text = '{\n  "refinements": [\n' + ",\n".join(chunks) + trailer
    else:  # json.dumps writes an empty list on one line; there is no last entry to patch after
        trailer = text = (
            f'{{\n  "refinements": [],\n  "total_cost": {json.dumps(round(cost_sum, 6))},\n  "total_refinements": 0\n}}'
        )
    data = text.encode()
    ids = {e.get("job_id") for e in entries}
    return IndexText(entries, chunks, costs, cost_sum, ids, len(data), trailer.encode(), data)


def parse(data: bytes) -> IndexText:
    """An index read from storage (any layout), re-encoded entry by entry."""
    built = build(json.loads(data).get("refinements", []))
    built.canonical, built.data, built.size = built.data == data, data, len(data)
    return built


def tail_patch(index: IndexText, added: list[dict[str, Any]], chunks: list[str]) -> TailPatch | None:
    """`added` (none already listed; `chunks` their texts) as a patch of `index`'s file; None if it cannot be."""
    if not index.entries or not index.canonical or not added or len(chunks) != len(added):
        return None
    cost_sum = _sum_with(index, [_cost(e) for e in added])
    trailer = _trailer(cost_sum, len(index) + len(added)).encode()
    tail = b",\n" + ",\n".join(chunks).encode() + trailer
    return TailPatch(index.size - len(index.trailer), tail, trailer, chunks, cost_sum)


def last_entry_at(index: IndexText) -> int | None:
    """Where the file's last entry begins (None when it has none, or is laid out otherwise)."""
    if not index.entries or not index.canonical:
        return None
    return index.size - len(index.trailer) - len(index.chunks[-1].encode())


def catch_up(index: IndexText, data: bytes) -> bool:
    """Add to `index` the entries another writer appended since, given the file's bytes from last_entry_at.

    When those bytes still start with `index`'s last entry, nothing before it changed (entries are only
    ever removed, or appended after it, and a removal before it would have moved it), so only the rest
    is parsed. False, `index` untouched, when the file is not `index` plus appended entries in this
    layout: the caller reads it whole.
    """
    last = index.chunks[-1].encode() if index.entries and index.canonical else b""
    end = data.rfind(b'\n  ],\n  "total_cost": ')
    if not last or not data.startswith(last + b",\n") or end <= len(last):
        return False
    try:
        added = json.loads(b"[" + data[len(last) + 2 : end] + b"]")
    except ValueError:
        return False
    if not isinstance(added, list) or not all(isinstance(e, dict) for e in added):
        return False
    patch = tail_patch(index, added, [entry_text(e) for e in added])
    if patch is None or last + patch.tail != data or not index.ids.isdisjoint(e.get("job_id") for e in added):
        return False
    index.extend(added, patch, None)
    return True


class IndexCache:
    """The last index this process read or wrote, per run (most recent runs only)."""

    def __init__(self) -> None:
        self._runs: OrderedDict[str, IndexText] = OrderedDict()

    def get(self, run: str) -> IndexText | None:
        """The version kept for `run`, if any."""
        return self._runs.get(run)

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
