"""Consistency between the database and the run folders: find, and optionally repair, what a crash left behind.

Checked: COMPLETED refinements whose result file is missing (rows without files), COMPLETED
refinements missing from their run's refinements.json (an index write lost to a crash or a full disk),
index entries of refinements that are not COMPLETED or gone, files under a run's refinements/ that no
row names (orphans), and run folders with no run row.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from churns_gql.models import JobStatus, Refinement, Run
from churns_gql.services import run_index
from churns_gql.services.lifecycle import utcnow
from churns_gql.services.refinements import record_in_index
from churns_gql.services.uow import unit_of_work
from churns_gql.storage import INDEX_FILE, REFINEMENTS, RunStorage

# Files younger than this may belong to a job or an import still committing: never called orphans.
GRACE_S = 600.0
LOST_FILE = "the result file was lost (found by fsck)"
# A completion this recent may still be writing its own refinements.json entry: the reaper leaves it be.
INDEX_SETTLE = timedelta(seconds=60)


@dataclass
class Report:
    """What fsck found (and, with repair, fixed)."""

    rows_without_files: list[str] = field(default_factory=list)
    missing_index_entries: list[str] = field(default_factory=list)
    stale_index_entries: list[str] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)
    orphan_run_dirs: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when nothing was found."""
        return not any(self.__dict__.values())

    def lines(self) -> list[str]:
        """One line per finding, then a total."""
        out = [f"{name.replace('_', ' ')}: {item}" for name, items in self.__dict__.items() for item in items]
        return out + [f"{sum(len(v) for v in self.__dict__.values())} problem(s)"]


async def _rows(session: AsyncSession, run_id: uuid.UUID) -> list[Refinement]:
    """Every refinement of a run."""
    return list(await session.scalars(select(Refinement).where(Refinement.run_id == run_id)))


def _old(mtime: float, now: float) -> bool:
    """Whether a file last written at `mtime` is past the grace period (so not part of a commit in flight)."""
    return now - mtime > GRACE_S


async def check(
    db: async_sessionmaker[AsyncSession],
    storage: RunStorage,
    *,
    repair: bool = False,
    run_ids: list[uuid.UUID] | None = None,
    grace_s: float = GRACE_S,
) -> Report:
    """Compare rows and files for every run (or `run_ids`); with `repair`, fix what can be fixed.

    Files younger than `grace_s` are not called orphans (0 when nothing can be in flight, as after a soak).
    """
    report = Report()
    # Shifting the clock by the grace difference lets every age check below compare against GRACE_S.
    now = time.time() + (GRACE_S - grace_s)
    async with db() as session:
        query = select(Run.id)
        if run_ids is not None:
            query = query.where(Run.id.in_(run_ids))
        known = set(await session.scalars(query))
    for run_id in sorted(known):
        await _check_run(db, storage, run_id, report, repair=repair, now=now)
    if run_ids is None:
        for name, mtime in sorted((await storage.run_folders()).items()):
            try:
                folder_id = uuid.UUID(name)
            except ValueError:
                continue
            if folder_id not in known and _old(mtime, now):
                report.orphan_run_dirs.append(name)
                if repair:
                    await storage.remove_run_dir(folder_id)
    return report


async def _check_run(
    db: async_sessionmaker[AsyncSession],
    storage: RunStorage,
    run_id: uuid.UUID,
    report: Report,
    *,
    repair: bool,
    now: float,
) -> None:
    """Check one run's refinements against its folder and index."""
    async with db() as session:
        rows = await _rows(session, run_id)
    completed = {str(r.id): r for r in rows if r.status == JobStatus.COMPLETED}
    indexed = {e["job_id"] for e in (await storage.load_index(run_id)).get("refinements", [])}
    files = {info.key: info for info in await storage.list_files(run_id, REFINEMENTS)}
    for job_id, row in completed.items():
        if not row.image_path or row.image_path not in files:
            report.rows_without_files.append(f"{run_id}/{job_id}")
            if repair:
                await _fail_lost(db, row.id)
        elif job_id not in indexed:
            report.missing_index_entries.append(f"{run_id}/{job_id}")
            if repair:
                await record_in_index(db, storage, row.id)
    stale = sorted(indexed - {j for j, r in completed.items() if r.image_path in files})
    if stale:
        report.stale_index_entries += [f"{run_id}/{job_id}" for job_id in stale]
        if repair:
            await run_index.record(db, storage, run_id, drop=set(stale))
    named = {p for r in rows for p in (r.image_path, r.reference_image_path) if p}
    for relative, info in sorted(files.items()):
        if relative not in named and not _is_preview_of(relative, rows) and _old(info.mtime, now):
            report.orphan_files.append(f"{run_id}/{relative}")
            if repair:
                await storage.delete(run_id, relative)


async def restore_recent_index_entries(
    db: async_sessionmaker[AsyncSession], storage: RunStorage, since: datetime
) -> list[str]:
    """Put back into refinements.json every refinement COMPLETED since `since` that its run's index lacks.

    The reaper's pass: a completion whose index write failed (a full disk between the result PNG and
    refinements.json) is restored once the disk has room again, without an operator's fsck. Only
    entries are added (idempotent, under the run's lock); removals stay with `churns-gql fsck --repair`.
    Completions younger than INDEX_SETTLE are left to their own job, which writes its entry just after
    committing COMPLETED: a pass in between would read the parent and write the entry a second time.
    """
    until = utcnow() - INDEX_SETTLE
    async with db() as session:
        rows = await session.execute(
            select(Refinement.id, Refinement.run_id).where(
                Refinement.status == JobStatus.COMPLETED,
                Refinement.completed_at >= since,
                Refinement.completed_at < until,
            )
        )
        by_run: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for refinement_id, run_id in rows:
            by_run[run_id].append(refinement_id)
    restored = []
    for run_id, ids in by_run.items():
        indexed = {e["job_id"] for e in (await storage.load_index(run_id)).get("refinements", [])}
        for refinement_id in ids:
            if str(refinement_id) not in indexed:
                await record_in_index(db, storage, refinement_id)
                restored.append(f"{run_id}/{refinement_id}")
    return restored


def _is_preview_of(relative: str, rows: list[Refinement]) -> bool:
    """Whether a file is a streamed partial image of one of the run's refinements."""
    name = Path(relative).name
    return "/previews/" in f"/{relative}" and any(name.startswith(f"{r.id}_partial_") for r in rows)


async def _fail_lost(db: async_sessionmaker[AsyncSession], refinement_id: uuid.UUID) -> None:
    """A COMPLETED refinement whose result is gone becomes FAILED, so no client links a missing file."""
    async with unit_of_work(db) as uow:
        await uow.session.execute(
            update(Refinement)
            .where(Refinement.id == refinement_id)
            .values(status=JobStatus.FAILED, error_message=LOST_FILE, image_path=None)
        )


def summary(report: Report) -> dict[str, Any]:
    """Counts per finding, for logs."""
    return {name: len(items) for name, items in report.__dict__.items()} | {"index_file": INDEX_FILE}
