"""The run folder on disk: every path and every write, atomic, with refinements.json serialized per run."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ORIGINALS = "originals"
REFINEMENTS = "refinements"
METADATA_FILE = "pipeline_metadata.json"
INDEX_FILE = "refinements.json"
_LOCK_FILE = ".refinements.lock"


@dataclass(frozen=True)
class IndexEntry:
    """One completed refinement as refinements.json records it."""

    job_id: str
    parent_image_id: str
    parent_image_path: str
    image_path: str
    type: str
    summary: str | None
    cost: float
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        """The entry with exactly the index's fields."""
        return dict(self.__dict__)


def original_path(generation_index: int) -> str:
    """Path, inside the run folder, of original N."""
    return f"{ORIGINALS}/image_{generation_index}.png"


def refinement_path(job_id: uuid.UUID | str, parent: int | uuid.UUID | str) -> str:
    """Path of a refinement's result: `_from_{N}` for original N, `_from_{parent_job}` for a chain."""
    return f"{REFINEMENTS}/{job_id}_from_{parent}.png"


def reference_path(job_id: uuid.UUID | str) -> str:
    """Path of the reference image uploaded with a refinement."""
    return f"{REFINEMENTS}/{job_id}_reference.png"


def preview_path(job_id: uuid.UUID | str, index: int) -> str:
    """Path of the partial image number `index` a provider streamed for a job."""
    return f"{REFINEMENTS}/previews/{job_id}_partial_{index}.png"


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _finish_even_if_cancelled(work: Any) -> Any:
    # A thread cannot be interrupted: if the caller is cancelled mid-write, wait for the write to land
    # before the cancellation propagates, so the caller's cleanup sees (and can remove) the file.
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def _empty_index() -> dict[str, Any]:
    return {"refinements": [], "total_cost": 0.0, "total_refinements": 0}


class RunStorage:
    """The data directory: `runs/{run_id}/...` for every run."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.runs_dir = self.data_dir / "runs"

    def run_dir(self, run_id: uuid.UUID | str) -> Path:
        """The folder of one run."""
        return self.runs_dir / str(uuid.UUID(str(run_id)))

    def path(self, run_id: uuid.UUID | str, relative: str) -> Path:
        """Absolute path of a file inside a run folder."""
        return self.run_dir(run_id) / relative

    def url(self, run_id: uuid.UUID | str, relative: str | None) -> str | None:
        """The URL path under which /files serves a run file."""
        return None if relative is None else f"/files/runs/{run_id}/{relative}"

    # -- writes ---------------------------------------------------------------------------------

    async def write_bytes(self, run_id: uuid.UUID | str, relative: str, data: bytes) -> Path:
        """Write a run file atomically (temp file + rename); readers never see half a file."""
        target = self.path(run_id, relative)
        await _finish_even_if_cancelled(asyncio.to_thread(_write_atomic, target, data))
        return target

    async def write_json(self, run_id: uuid.UUID | str, relative: str, value: Any) -> Path:
        """Write a JSON file atomically."""
        data = json.dumps(value, indent=2, ensure_ascii=False, default=str).encode()
        return await self.write_bytes(run_id, relative, data)

    async def delete(self, run_id: uuid.UUID | str, relative: str) -> None:
        """Remove one run file if it exists."""
        await asyncio.to_thread(self.path(run_id, relative).unlink, True)

    async def create_run_dir(self, run_id: uuid.UUID, files: dict[str, bytes]) -> Path:
        """Create a run folder holding `files` in one step: it appears complete or not at all."""
        return await asyncio.to_thread(self._create_run_dir, run_id, files)

    def _create_run_dir(self, run_id: uuid.UUID, files: dict[str, bytes]) -> Path:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.runs_dir, prefix=".staging-"))
        try:
            for relative, data in files.items():
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            final = self.run_dir(run_id)
            os.rename(staging, final)  # fails if the folder exists: a run id is never reused
            return final
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    async def remove_run_dir(self, run_id: uuid.UUID | str) -> None:
        """Delete a run folder, used to undo a run whose database row did not commit."""
        await asyncio.to_thread(shutil.rmtree, self.run_dir(run_id), True)

    # -- refinements.json -----------------------------------------------------------------------

    @contextmanager
    def _index_lock(self, run_id: uuid.UUID | str) -> Iterator[None]:
        # flock works across processes (API and workers) and between threads of one process.
        lock_path = self.path(run_id, _LOCK_FILE)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read_index(self, run_id: uuid.UUID | str) -> dict[str, Any]:
        """refinements.json of a run, or an empty index."""
        try:
            return json.loads(self.path(run_id, INDEX_FILE).read_text())
        except FileNotFoundError:
            return _empty_index()

    async def record_refinement(self, run_id: uuid.UUID | str, entry: IndexEntry) -> dict[str, Any]:
        """Add (or replace, by job_id) one completed refinement in refinements.json and update totals."""
        return await asyncio.to_thread(self._record_refinement, run_id, entry)

    def _record_refinement(self, run_id: uuid.UUID | str, entry: IndexEntry) -> dict[str, Any]:
        with self._index_lock(run_id):
            index = self.read_index(run_id)
            # A job that runs twice replaces its own entry, so the index never holds it twice.
            entries = [e for e in index.get("refinements", []) if e.get("job_id") != entry.job_id]
            entries.append(entry.as_dict())
            return self._write_index(run_id, entries)

    async def drop_index_entries(self, run_id: uuid.UUID | str, job_ids: set[str]) -> dict[str, Any]:
        """Remove the entries of `job_ids` from refinements.json (repairs by fsck) and update totals."""
        return await asyncio.to_thread(self._drop_index_entries, run_id, job_ids)

    def _drop_index_entries(self, run_id: uuid.UUID | str, job_ids: set[str]) -> dict[str, Any]:
        with self._index_lock(run_id):
            entries = [e for e in self.read_index(run_id).get("refinements", []) if e.get("job_id") not in job_ids]
            return self._write_index(run_id, entries)

    def _write_index(self, run_id: uuid.UUID | str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """Write refinements.json with `entries` and their totals (the caller holds the index lock)."""
        index = {
            "refinements": entries,
            "total_cost": round(sum(float(e.get("cost") or 0) for e in entries), 6),
            "total_refinements": len(entries),
        }
        _write_atomic(self.path(run_id, INDEX_FILE), json.dumps(index, indent=2).encode())
        return index

    # -- reads for /files -----------------------------------------------------------------------

    def resolve_public(self, relative: str) -> Path | None:
        """The file a `/files/{relative}` URL names, or None if it is outside `runs/` or not a file."""
        if not relative or "\x00" in relative or relative.startswith(("/", "\\")):
            return None
        parts = Path(relative).parts
        if not parts or parts[0] != "runs" or any(p in ("..", ".") or p.startswith(".") for p in parts):
            return None
        if len(parts) < 3:
            return None
        # A file must stay inside its own run's folder: resolve() follows symlinks, so a link into
        # another run (another tenant's) or out of the data dir is caught here.
        root = (self.runs_dir / parts[1]).resolve()
        try:
            candidate = (self.data_dir / relative).resolve(strict=True)
            candidate.relative_to(root)
        except (OSError, ValueError):
            return None
        return candidate if candidate.is_file() else None
