"""Per-request DataLoaders, named XByYLoader; each batch is one SQL round trip on its own session."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from churns_gql import events
from churns_gql.db import read_session
from churns_gql.error_codes import ErrorCode
from churns_gql.graphql.errors import PublicError
from churns_gql.services import lineages
from churns_gql.services import refinements as refinement_service
from churns_gql.services import runs as run_service
from churns_gql.services.subtrees import subtree

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from churns_gql.storage import RunStorage

MAX_TREE_ROWS = 20_000
"""Refinement rows one request may load for `children` and `ancestors` together.

The cost rules bound the document's depth and breadth, not the rows behind it: a 10-level `children`
query over a 100,000-refinement tree would otherwise load (and build a response of) all of them.
"""


MAX_METADATA_BYTES = 8 * 1024 * 1024
"""Bytes of run metadata one request may read (and answer with).

The cost rules count a `metadata` field as a fixed weight, but its size is the run's: 4 aliases of 100
runs' metadata make a 40 MB response whose encoding holds the event loop (and every other tenant) for
over a second. Bounding the bytes bounds the encoding.
"""


class ByteBudget:
    """Bytes of metadata a request may still read; past the limit the field fails with a coded error."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, size: int) -> None:
        """Count bytes about to be answered; raises QUERY_TOO_COMPLEX when the request has used them up."""
        self.left -= size
        if self.left < 0:
            raise PublicError(
                f"this query reads more than {self.limit // (1024 * 1024)} MB of run metadata; "
                "ask for fewer runs' `metadata` at once (page through them)",
                ErrorCode.QUERY_TOO_COMPLEX,
            )

    async def read_json(self, storage: RunStorage, run_id: uuid.UUID, relative: str) -> Any:
        """A run's JSON file, or None when it is missing or not JSON; its bytes are spent before it is parsed."""
        self.spend(0)  # a spent budget refuses before reading anything more
        try:
            raw = await storage.read_bytes(run_id, relative)
        except FileNotFoundError:
            return None
        self.spend(len(raw))
        try:
            return json.loads(raw)
        except ValueError:
            return None


class TreeBudget:
    """Rows a request may still load for refinement trees; each batch asks the database for no more than that."""

    def __init__(self, rows: int) -> None:
        self.limit = rows
        self.left = rows

    def spend(self, loaded: int) -> None:
        """Count rows a batch loaded; past the limit the field fails with a coded error."""
        self.left -= loaded
        if self.left < 0:
            raise PublicError(
                f"this query reaches more than {self.limit} refinements; ask for fewer `children` levels, "
                "or start from a deeper refinement",
                ErrorCode.QUERY_TOO_COMPLEX,
            )


def _budgeted(
    db: async_sessionmaker[AsyncSession],
    fetch: Callable[..., Awaitable[dict[Any, Any]]],
    budget: TreeBudget,
    count: Callable[[Any], int],
    default: Callable[[], Any] | None = None,
) -> DataLoader[Any, Any]:
    async def load(keys: list[Any]) -> list[Any]:
        # One row past what is left tells "over the limit" apart from "exactly at it" without reading more.
        limit = max(budget.left, 0) + 1
        async with read_session(db) as session:
            found = await fetch(session, keys, limit=limit)
        spent = sum(count(v) for v in found.values())
        if default is None and len(found) < len(keys):
            # A lineage cut short by the limit is left out whole (it has no root yet): the batch was over.
            spent = limit
        budget.spend(spent)
        return [found[key] if key in found else default() for key in keys]  # type: ignore[misc]  # default set when keys can miss

    return DataLoader(load_fn=load)


class KnownRows:
    """Original and refinement rows this request has read, by id: a lineage made only of them needs no query.

    A tree read from the originals down holds every ancestor of its nodes, so their `ancestors` (bench P3)
    are answered from these rows instead of one more dependent round trip. A node's parents never change,
    so rows read by an earlier statement of the request give the same lineage a new read would.
    """

    def __init__(self) -> None:
        self.images: dict[uuid.UUID, Any] = {}
        self.refinements: dict[uuid.UUID, Any] = {}

    def lineage(self, refinement_id: uuid.UUID) -> tuple[Any, list[Any]] | None:
        """The root original and refinement ancestors (oldest first) of a known refinement, or None if any is unknown."""
        row = self.refinements.get(refinement_id)
        chain: list[Any] = []
        # Bounded by the rows known, so even a cycle in the data could not spin forever.
        for _ in range(len(self.refinements)):
            if row is None:
                return None
            if row.parent_refinement_id is None:
                image = self.images.get(row.parent_image_id)
                if image is None:
                    return None
                chain.reverse()
                return image, chain
            row = self.refinements.get(row.parent_refinement_id)
            chain.append(row)
        return None


def _lineages(db: async_sessionmaker[AsyncSession], budget: TreeBudget, known: KnownRows) -> DataLoader[Any, Any]:
    """Lineages by refinement: from the rows already read when they hold the whole chain, else one recursive query."""
    read = _budgeted(db, lineages.refinement_lineages, budget, lambda v: 1 + len(v[1]))

    async def load(keys: list[Any]) -> list[Any]:
        found: dict[Any, Any] = {key: known.lineage(key) for key in keys}
        # Counted as if read: the same budget (and the same QUERY_TOO_COMPLEX) whichever way a lineage came.
        budget.spend(sum(1 + len(v[1]) for v in found.values() if v is not None))
        missing = [key for key, value in found.items() if value is None]
        if missing:
            found.update(zip(missing, await read.load_fn(missing), strict=True))
        return [found[key] for key in keys]

    return DataLoader(load_fn=load)


def _recording(
    fetch: Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]], into: dict[uuid.UUID, Any]
) -> Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]]:
    """`fetch`, remembering each row it returns (single rows or lists of them) by id."""

    async def fetch_and_record(session: AsyncSession, keys: Sequence[Any]) -> dict[Any, Any]:
        found = await fetch(session, keys)
        for value in found.values():
            for row in value if isinstance(value, list) else (value,):
                if row is not None:
                    into[row.id] = row
        return found

    return fetch_and_record


class SubtreeLoaders:
    """`children` of originals and of refinements, read a whole subtree at a time.

    The first `children` batch reads every level the query nests below it in one recursive query and
    primes the refinement loader with each complete children list it read, so deeper levels answer from
    the cache instead of the database (P3 in bench/).
    """

    def __init__(self, db: async_sessionmaker[AsyncSession], budget: TreeBudget, known: KnownRows) -> None:
        reads = _SubtreeReads(db, budget, known)
        # The same dicts as the reads': the loaders' functions hold `reads`, not this object, so no reference
        # cycle keeps a request's rows alive after it (a cycle waits for the garbage collector, and each of
        # its passes over a thousand-node tree's leftovers cost more than the tree's completion; bench P3b).
        self.depths = reads.depths
        self.of_images = reads.of_images
        self.of_refinements = reads.of_refinements
        self.by_image: DataLoader[uuid.UUID, list[Any]] = DataLoader(load_fn=reads.images)
        self.by_run: DataLoader[uuid.UUID, None] = DataLoader(load_fn=reads.runs)
        self.by_refinement: DataLoader[uuid.UUID, list[Any]] = DataLoader(load_fn=reads.refinements)

    def cached(self, loader: DataLoader[uuid.UUID, list[Any]], key: uuid.UUID) -> list[Any] | None:
        """The children already read for a key, or None."""
        return (self.of_images if loader is self.by_image else self.of_refinements).get(key)

    async def load(self, loader: DataLoader[uuid.UUID, list[Any]], key: uuid.UUID, depth: int) -> list[Any]:
        """The children of a key, reading `depth` levels below it in the same query when they are not cached."""
        found = self.cached(loader, key)
        if found is not None:
            return found
        self.depths[key] = max(depth, self.depths.get(key, 1))
        return await loader.load(key)

    def read_run(self, run_id: uuid.UUID, depth: int) -> Awaitable[bool]:
        """Read the subtrees of a run's originals, `depth` levels, while the originals themselves are read.

        Saves the round trip the originals' `children` would wait for after them; the batch is scheduled on
        the call, so it goes out with the originals' own. Its awaitable is False when the read failed: each
        original's `children` then reads (and reports its error) as it would have.
        """
        self.depths[run_id] = max(depth, self.depths.get(run_id, 1))
        batch = self.by_run.load(run_id)

        async def complete() -> bool:
            try:
                await batch
            except Exception:  # reported by the `children` fields that read again
                return False
            return True

        return complete()

    def read_all_children_of(self, images: list[Any]) -> None:
        """After a read_run: the originals without a children list have none."""
        for image in images:
            self.of_images.setdefault(image.id, [])


class _SubtreeReads:
    """The subtree loaders' batch functions and what they have read: children lists by parent, depths wanted."""

    def __init__(self, db: async_sessionmaker[AsyncSession], budget: TreeBudget, known: KnownRows) -> None:
        self.db = db
        self.budget = budget
        self.known = known
        # Levels wanted below each key waiting in a batch: its field's `children` nesting.
        self.depths: dict[uuid.UUID, int] = {}
        # Complete children lists read so far, by parent: plain dicts, since a tree query looks up every node's
        # (a DataLoader's cache holds a future per key, and priming it built one for each).
        self.of_images: dict[uuid.UUID, list[Any]] = {}
        self.of_refinements: dict[uuid.UUID, list[Any]] = {}

    async def runs(self, keys: list[uuid.UUID]) -> list[None]:
        """Batch: the subtrees below the runs' originals."""
        depth = max(self.depths.pop(key, 1) for key in keys)
        limit = max(self.budget.left, 0) + 1
        async with read_session(self.db) as session:
            found = await subtree(session, run_ids=keys, depth=depth, limit=limit)
        self.budget.spend(found.rows)
        self.known.refinements.update(found.by_id)
        for parent, kids in found.children.items():
            # Only a refinement's list can be empty here (the walk started at the originals' children).
            mine = self.of_images if kids and kids[0].parent_image_id is not None else self.of_refinements
            mine[parent] = kids
        return [None for _ in keys]

    async def images(self, keys: list[uuid.UUID]) -> list[list[Any]]:
        """Batch: children of originals (and the levels below them)."""
        return await self._read(keys, images=True)

    async def refinements(self, keys: list[uuid.UUID]) -> list[list[Any]]:
        """Batch: children of refinements (and the levels below them)."""
        return await self._read(keys, images=False)

    async def _read(self, keys: list[uuid.UUID], *, images: bool) -> list[list[Any]]:
        depth = max(self.depths.pop(key, 1) for key in keys)
        # One row past what is left tells "over the limit" apart from "exactly at it" without reading more.
        limit = max(self.budget.left, 0) + 1
        async with read_session(self.db) as session:
            found = await subtree(
                session,
                image_ids=keys if images else (),
                refinement_ids=() if images else keys,
                depth=depth,
                limit=limit,
            )
        self.budget.spend(found.rows)
        self.known.refinements.update(found.by_id)
        if images:
            self.of_images.update((key, found.children.pop(key)) for key in keys)
        self.of_refinements.update(found.children)
        lists = self.of_images if images else self.of_refinements
        return [lists[key] for key in keys]


def _batched(
    db: async_sessionmaker[AsyncSession],
    fetch: Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]],
    default: Callable[[], Any] = lambda: None,
) -> DataLoader[Any, Any]:
    async def load(keys: list[Any]) -> list[Any]:
        async with read_session(db) as session:
            found = await fetch(session, keys)
        return [found[key] if key in found else default() for key in keys]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    """Every loader of one request (or of one subscription event)."""

    run_by_id: DataLoader[uuid.UUID, Any]
    image_by_id: DataLoader[uuid.UUID, Any]
    refinement_by_id: DataLoader[uuid.UUID, Any]
    images_by_run: DataLoader[uuid.UUID, list[Any]]
    children: SubtreeLoaders
    lineage_by_refinement: DataLoader[uuid.UUID, Any]
    refinement_cost_by_run: DataLoader[uuid.UUID, float]
    events_by_job: DataLoader[uuid.UUID, list[Any]]
    metadata_bytes: ByteBudget


def make_loaders(db: async_sessionmaker[AsyncSession], tree_rows: int | None = None) -> Loaders:
    """Fresh loaders: their caches (and their tree-row budget) live exactly as long as the request that made them."""
    budget = TreeBudget(MAX_TREE_ROWS if tree_rows is None else tree_rows)
    known = KnownRows()
    return Loaders(
        run_by_id=_batched(db, run_service.runs_by_ids),
        image_by_id=_batched(db, _recording(run_service.images_by_ids, known.images)),
        refinement_by_id=_batched(db, refinement_service.refinements_by_ids),
        images_by_run=_batched(db, _recording(run_service.images_by_run_ids, known.images), list),
        children=SubtreeLoaders(db, budget, known),
        lineage_by_refinement=_lineages(db, budget, known),
        refinement_cost_by_run=_batched(db, run_service.refinement_costs_by_run_ids, float),
        events_by_job=_batched(db, events.events_by_job_ids, list),
        metadata_bytes=ByteBudget(MAX_METADATA_BYTES),
    )
