"""The run folder, on disk or in a bucket: every path and every write, atomic, and refinements.json.

Writers of refinements.json on several machines are serialized by a Postgres advisory lock
(services/run_index.py); the flock here additionally orders writers sharing a local folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churns_gql import in_place, index_file
from churns_gql.blob_store import BlobInfo, BlobStore, LocalBlobStore, open_store

ORIGINALS = "originals"
REFINEMENTS = "refinements"
METADATA_FILE = "pipeline_metadata.json"
INDEX_FILE = "refinements.json"
_LOCK_FILE = ".refinements.lock"
# Derivatives made from a run's images (resized copies for /files?w=): regenerable, so not the owner's data.
DERIVATIVES = ".thumbs"


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
    """The data store: `runs/{run_id}/...` for every run, in a local folder or an S3 bucket."""

    def __init__(self, data_dir: Path | str, store: BlobStore | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.runs_dir = self.data_dir / "runs"
        self.store: BlobStore = store or LocalBlobStore(self.data_dir)
        self._index_cache = index_file.IndexCache()
        if isinstance(self.store, LocalBlobStore):
            self.data_dir, self.runs_dir = self.store.root, self.store.root / "runs"

    @classmethod
    def from_url(cls, url: str | None, data_dir: Path | str) -> RunStorage:
        """The storage CHURNS_STORAGE_URL names (the data dir when empty)."""
        return cls(data_dir, open_store(url, data_dir))

    @property
    def is_local(self) -> bool:
        """Whether run files are on this machine's disk."""
        return isinstance(self.store, LocalBlobStore)

    @staticmethod
    def key(run_id: uuid.UUID | str, relative: str = "") -> str:
        """The store key of a file in a run folder (the folder itself for an empty `relative`)."""
        folder = f"runs/{uuid.UUID(str(run_id))}"
        return f"{folder}/{relative}" if relative else folder

    def run_dir(self, run_id: uuid.UUID | str) -> Path:
        """The folder of one run (local storage)."""
        return self.runs_dir / str(uuid.UUID(str(run_id)))

    def path(self, run_id: uuid.UUID | str, relative: str) -> Path:
        """Absolute path of a file inside a run folder (local storage)."""
        return self.run_dir(run_id) / relative

    def url(self, run_id: uuid.UUID | str, relative: str | None) -> str | None:
        """The URL path under which /files serves a run file."""
        return None if relative is None else f"/files/runs/{run_id}/{relative}"

    # -- reads ----------------------------------------------------------------------------------

    async def read_bytes(self, run_id: uuid.UUID | str, relative: str) -> bytes:
        """A run file's bytes; raises FileNotFoundError."""
        return await asyncio.to_thread(self.store.read, self.key(run_id, relative))

    async def read_json(self, run_id: uuid.UUID | str, relative: str) -> Any:
        """A run's JSON file, or None when it is missing or not JSON."""
        try:
            return json.loads(await self.read_bytes(run_id, relative))
        except (FileNotFoundError, ValueError):
            return None

    async def exists(self, run_id: uuid.UUID | str, relative: str) -> bool:
        """Whether a run file exists."""
        return await asyncio.to_thread(self.store.info, self.key(run_id, relative)) is not None

    async def list_files(self, run_id: uuid.UUID | str, folder: str) -> list[BlobInfo]:
        """The files under `folder` of a run, keys relative to the run folder."""
        base = len(self.key(run_id)) + 1
        found = await asyncio.to_thread(self.store.list, self.key(run_id, folder))
        return [BlobInfo(i.key[base:], i.size, i.mtime, i.etag) for i in found]

    async def run_folders(self) -> dict[str, float]:
        """Every run folder's name with the newest modification time seen in it."""
        return await asyncio.to_thread(self.store.folders, "runs")

    async def unreachable(self, timeout_s: float = 3) -> str | None:
        """Why the store cannot be used, or None when it can (for /readyz)."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self.store.probe), timeout_s)
        except Exception as exc:
            return f"{exc.__class__.__name__}: {exc}"
        return None

    def runs_size(self, run_ids: list[uuid.UUID]) -> int:
        """Bytes the owner stored in `run_ids`, derivatives left out (blocking: call in a thread).

        A storage quota measures what a user made; thumbnails the server chose to cache are bounded and
        evicted on their own (thumbnails.py), so viewing a run never uses up its owner's quota.
        """
        derived = f"/{DERIVATIVES}/"
        return sum(
            info.size for run_id in run_ids for info in self.store.list(self.key(run_id)) if derived not in info.key
        )

    # -- writes ---------------------------------------------------------------------------------

    async def write_bytes(self, run_id: uuid.UUID | str, relative: str, data: bytes) -> str:
        """Write a run file atomically; readers never see half a file. Returns its key."""
        key = self.key(run_id, relative)
        await _finish_even_if_cancelled(asyncio.to_thread(self.store.write, key, data))
        return key

    async def write_json(self, run_id: uuid.UUID | str, relative: str, value: Any) -> str:
        """Write a JSON file atomically."""
        data = json.dumps(value, indent=2, ensure_ascii=False, default=str).encode()
        return await self.write_bytes(run_id, relative, data)

    async def delete(self, run_id: uuid.UUID | str, relative: str) -> None:
        """Remove one run file if it exists."""
        await asyncio.to_thread(self.store.delete, self.key(run_id, relative))

    async def create_run_dir(self, run_id: uuid.UUID, files: dict[str, bytes]) -> str:
        """Create a run folder holding `files` in one step; a run id is never reused."""
        await asyncio.to_thread(self.store.write_tree, self.key(run_id), files)
        return self.key(run_id)

    async def remove_run_dir(self, run_id: uuid.UUID | str) -> None:
        """Delete a run folder, used to undo a run whose database row did not commit."""
        await asyncio.to_thread(self.store.delete_tree, self.key(run_id))

    # -- refinements.json -----------------------------------------------------------------------

    @contextmanager
    def _index_lock(self, run_id: uuid.UUID | str) -> Iterator[None]:
        if not self.is_local:
            # A bucket has no flock: writers on every machine hold the run's advisory lock instead.
            yield
            return
        # flock orders processes and threads that share this folder (tests, tools run beside a server).
        lock_path = self.path(run_id, _LOCK_FILE)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read_index(self, run_id: uuid.UUID | str) -> dict[str, Any]:
        """refinements.json of a run, or an empty index (blocking)."""
        try:
            index: dict[str, Any] = json.loads(self.store.read(self.key(run_id, INDEX_FILE)))
            return index
        except FileNotFoundError:
            return _empty_index()

    async def load_index(self, run_id: uuid.UUID | str) -> dict[str, Any]:
        """refinements.json of a run, read off the event loop."""
        return await asyncio.to_thread(self.read_index, run_id)

    async def record_refinement(self, run_id: uuid.UUID | str, entry: IndexEntry) -> dict[str, Any]:
        """Add (or replace, by job_id) one completed refinement in refinements.json and update totals."""
        return await self.update_index(run_id, [entry], set())

    async def drop_index_entries(self, run_id: uuid.UUID | str, job_ids: set[str]) -> dict[str, Any]:
        """Remove the entries of `job_ids` from refinements.json (repairs by fsck) and update totals."""
        return await self.update_index(run_id, [], job_ids)

    async def update_index(self, run_id: uuid.UUID | str, add: list[IndexEntry], drop: set[str]) -> dict[str, Any]:
        """Apply several additions and removals to refinements.json in one rewrite."""
        return await _finish_even_if_cancelled(asyncio.to_thread(self._update_index, run_id, add, drop))

    def _update_index(self, run_id: uuid.UUID | str, add: list[IndexEntry], drop: set[str]) -> dict[str, Any]:
        with self._index_lock(run_id):
            for attempt in range(3):
                current = self._current_index(run_id)
                replaced = drop | {e.job_id for e in add}
                # A job that runs twice replaces its own entry, so the index never holds it twice.
                added = [e.as_dict() for e in {e.job_id: e for e in add}.values()]
                texts = [index_file.entry_text(e) for e in added]
                if not replaced.isdisjoint(current.ids):
                    kept = [
                        (e, c)
                        for e, c in zip(current.entries, current.chunks, strict=True)
                        if e.get("job_id") not in replaced
                    ]
                    return self._write_index(run_id, [e for e, _ in kept] + added, [c for _, c in kept] + texts)
                try:  # only additions (one completion, the common case): the file may just grow at its end
                    return self._write_index(run_id, added, texts, base=current)
                except in_place.StaleFile:
                    if attempt == 2:
                        raise
                    # Written by someone not holding the lock (a tool, a misconfigured host): start again from theirs.
            raise AssertionError("unreachable")

    def _current_index(self, run_id: uuid.UUID | str) -> index_file.IndexText:
        """The index as stored now, from the cache when it is the version this process last wrote or read."""
        run, key = str(run_id), self.key(run_id, INDEX_FILE)
        local = self.store.local_path(key) if self.is_local else None
        if local is None:  # a bucket: the object's bytes are its version
            try:
                data: bytes | None = self.store.read(key)
            except FileNotFoundError:
                data = None
            return self._index_cache.current(run, data)
        in_place.recover(local)
        kept = self._index_cache.get(run)
        try:
            seen = in_place.Stamp.of(local.stat())
        except FileNotFoundError:
            return index_file.build([])
        # Unchanged since this process wrote it: neither read nor parsed (another writer changes the stamp).
        if kept is not None and kept.stamp == seen and in_place.ends_with(local, kept.trailer):
            return kept
        # Another worker only appended to the same file: read and parse what it added, not the whole index.
        resume = index_file.last_entry_at(kept) if kept is not None and kept.stamp is not None else None
        if kept is not None and resume is not None and (seen.dev, seen.ino) == (kept.stamp.dev, kept.stamp.ino):
            data, stamp = in_place.read(local, resume)
            if index_file.catch_up(kept, data):
                kept.stamp = stamp
                return kept
        data, stamp = in_place.read(local)
        index = self._index_cache.current(run, data)
        index.stamp = stamp
        return index

    def _record_refinement(self, run_id: uuid.UUID | str, entry: IndexEntry) -> dict[str, Any]:
        return self._update_index(run_id, [entry], set())

    def _write_index(
        self,
        run_id: uuid.UUID | str,
        entries: list[dict[str, Any]],
        chunks: list[str] | None = None,
        *,
        base: index_file.IndexText | None = None,
    ) -> dict[str, Any]:
        """Write refinements.json with `entries` and their totals (the caller holds the index lock).

        With a `base`, `entries` (and `chunks`) are new entries added after `base`'s. Then a local file is
        only patched at its end (in_place.py): O(new entries), not O(index). A bucket cannot append to an
        object, so it is rewritten whole, as is a file whose layout is not this one.
        """
        run, key = str(run_id), self.key(run_id, INDEX_FILE)
        local = self.store.local_path(key) if self.is_local else None
        if base is not None:
            patch = index_file.tail_patch(base, entries, chunks or []) if local and base.stamp else None
            if local is not None and patch is not None:
                base.extend(entries, patch, in_place.patch(local, patch.offset, patch.tail, base.stamp))
                self._index_cache.keep(run, base)
                return base.as_dict()
            entries, chunks = base.entries + entries, base.chunks + chunks if chunks is not None else None
        index = index_file.build(entries, chunks)
        if local is not None:
            in_place.prepare_rewrite(local)
        self.store.write(key, index.data or b"")
        if local is not None:
            index.stamp = in_place.Stamp.of(local.stat())
        self._index_cache.keep(run, index)
        return index.as_dict()

    # -- reads for /files -----------------------------------------------------------------------

    def public_key(self, relative: str) -> str | None:
        """The store key a `/files/{relative}` URL names, or None if it is outside `runs/{id}/` or hidden."""
        if not relative or "\x00" in relative or relative.startswith(("/", "\\")):
            return None
        parts = Path(relative).parts
        if not parts or parts[0] != "runs" or any(p in ("..", ".") or p.startswith(".") for p in parts):
            return None
        if len(parts) < 3:
            return None
        with contextlib.suppress(ValueError):
            if str(uuid.UUID(parts[1])) == parts[1]:
                return "/".join(parts)
        return None

    def resolve_public(self, relative: str) -> Path | None:
        """The local file a `/files/{relative}` URL names, or None if it is outside `runs/` or not a file."""
        if not self.is_local or self.public_key(relative) is None:
            return None
        parts = Path(relative).parts
        # A file must stay inside its own run's folder: resolve() follows symlinks, so a link into
        # another run (another tenant's) or out of the data dir is caught here.
        root = (self.runs_dir / parts[1]).resolve()
        try:
            candidate = (self.data_dir / relative).resolve(strict=True)
            candidate.relative_to(root)
        except (OSError, ValueError):
            return None
        return candidate if candidate.is_file() else None
