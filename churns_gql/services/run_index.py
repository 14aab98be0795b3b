"""Writers of refinements.json: one at a time per run across every machine, with concurrent changes coalesced.

The file lives in shared storage (a folder or a bucket) written by workers on several machines, where a
local flock orders nothing. Each rewrite holds the run's Postgres advisory lock for its transaction. While
one rewrite waits for the lock, other completions of the same run in this process join it, so a burst
of N completions costs far fewer than N rewrites of an index that may hold thousands of entries.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from churns_gql.services.uow import unit_of_work
from churns_gql.storage import INDEX_FILE, IndexEntry, RunStorage


@dataclass
class _Batch:
    """Changes to one run's index waiting for the same rewrite."""

    add: list[IndexEntry] = field(default_factory=list)
    drop: set[str] = field(default_factory=set)
    task: asyncio.Future[dict[str, Any]] | None = None


_open: dict[tuple[int, str], _Batch] = {}
# How many rewrites this process made (the coalescing test and the benchmark read it).
rewrites = 0


def lock_key(run_id: uuid.UUID | str) -> Any:
    """The advisory-lock key of a run's index: a 64-bit hash of the file's name and the run id."""
    return func.hashtextextended(f"{INDEX_FILE}:{uuid.UUID(str(run_id))}", 0)


async def record(
    db: async_sessionmaker[AsyncSession],
    storage: RunStorage,
    run_id: uuid.UUID | str,
    add: list[IndexEntry] | None = None,
    drop: set[str] | None = None,
) -> dict[str, Any]:
    """Add (replacing by job id) and drop entries of a run's refinements.json; returns the index written."""
    slot = (id(asyncio.get_running_loop()), str(uuid.UUID(str(run_id))))
    batch = _open.get(slot)
    if batch is None:
        batch = _open[slot] = _Batch()
        batch.task = asyncio.ensure_future(_rewrite(db, storage, run_id, slot, batch))
    batch.add += add or []
    batch.drop |= drop or set()
    assert batch.task is not None
    # Shielded: one caller cancelled must not cancel the rewrite the others wait for.
    return await asyncio.shield(batch.task)


async def _rewrite(
    db: async_sessionmaker[AsyncSession],
    storage: RunStorage,
    run_id: uuid.UUID | str,
    slot: tuple[int, str],
    batch: _Batch,
) -> dict[str, Any]:
    """Take the run's lock, close the batch, and rewrite the index once with everything it gathered."""
    global rewrites
    try:
        async with unit_of_work(db) as uow:  # the lock is held until this transaction ends
            await uow.session.execute(select(func.pg_advisory_xact_lock(lock_key(run_id))))
            # From here on new changes start the next batch, which waits for this lock.
            _open.pop(slot, None)
            index = await storage.update_index(run_id, batch.add, batch.drop)
            rewrites += 1
            return index
    finally:
        if _open.get(slot) is batch:
            _open.pop(slot, None)
