"""Where run files live: one small blocking interface, the local folder by default, S3 by CHURNS_STORAGE_URL.

Keys are `/`-separated paths under the store's root (`runs/{run_id}/originals/image_0.png`). Callers run
these methods in a thread; every write is atomic (readers see the old bytes or the new, never half).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Protocol
from urllib.parse import unquote, urlparse

from churns_gql import in_place

_CHUNK = 256 * 1024


@dataclass(frozen=True)
class BlobInfo:
    """One stored file: its key, size in bytes, modification time (epoch seconds) and version tag."""

    key: str
    size: int
    mtime: float
    etag: str


@dataclass
class Opened:
    """One version of a file, opened for sending: its info and its bytes belong to the same version."""

    info: BlobInfo
    chunks: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]]


class BlobStore(Protocol):
    """The operations run storage needs from a backend."""

    def read(self, key: str) -> bytes:
        """The bytes at `key`; raises FileNotFoundError."""

    def write(self, key: str, data: bytes) -> None:
        """Store `data` at `key` atomically."""

    def delete(self, key: str) -> None:
        """Remove `key` if it exists."""

    def delete_tree(self, prefix: str) -> None:
        """Remove every key under the folder `prefix`."""

    def write_tree(self, prefix: str, files: dict[str, bytes]) -> None:
        """Create the folder `prefix` holding `files`; raises FileExistsError if it already exists."""

    def info(self, key: str) -> BlobInfo | None:
        """Size, time and tag of `key`, or None when it does not exist."""

    def list(self, prefix: str) -> list[BlobInfo]:
        """Every file under the folder `prefix` (hidden bookkeeping files included)."""

    def folders(self, prefix: str) -> dict[str, float]:
        """The sub-folders of `prefix` with the newest modification time found in each."""

    def local_path(self, key: str) -> Path | None:
        """The file on this machine's disk for `key`, or None for a remote store."""

    def probe(self) -> None:
        """Raise when the store cannot be used (for /readyz)."""

    async def open(self, key: str) -> Opened | None:
        """`key` opened for sending (None when missing): a rewrite racing the read cannot mix two versions."""


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


class LocalBlobStore:
    """Files under a folder on disk (the default: `data/`)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file of `key`."""
        return self.root / key

    def read(self, key: str) -> bytes:
        """The bytes at `key`, one whole version even of a file patched in place; raises FileNotFoundError."""
        return in_place.read(self.path(key))[0]

    def write(self, key: str, data: bytes) -> None:
        """Temp file + fsync + rename."""
        _write_atomic(self.path(key), data)

    def delete(self, key: str) -> None:
        """Remove `key` if it exists."""
        self.path(key).unlink(missing_ok=True)

    def delete_tree(self, prefix: str) -> None:
        """Remove the folder `prefix`."""
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def write_tree(self, prefix: str, files: dict[str, bytes]) -> None:
        """Fill a staging folder, then rename it into place: the folder appears complete or not at all."""
        final = self.path(prefix)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=".staging-"))
        try:
            for relative, data in files.items():
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            try:
                os.rename(staging, final)
            except OSError as exc:  # an existing non-empty folder: a run id is never reused
                raise FileExistsError(str(final)) from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def info(self, key: str) -> BlobInfo | None:
        """Stat of the file, None when missing or not a regular file."""
        try:
            stat = self.path(key).stat()
        except OSError:
            return None
        if not self.path(key).is_file():
            return None
        return BlobInfo(key, stat.st_size, stat.st_mtime, f"{stat.st_mtime_ns:x}-{stat.st_size:x}")

    def list(self, prefix: str) -> list[BlobInfo]:
        """Every regular file under `prefix` (symlinks are not followed)."""
        found = []
        for path in self._walk(self.path(prefix)):
            try:
                stat = path.lstat()
            except OSError:
                continue
            found.append(
                BlobInfo(
                    str(path.relative_to(self.root)),
                    stat.st_size,
                    stat.st_mtime,
                    f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
                )
            )
        return found

    @staticmethod
    def _walk(folder: Path) -> Iterator[Path]:
        for root, _dirs, names in os.walk(folder):
            for name in names:
                path = Path(root, name)
                if not path.is_symlink():
                    yield path

    def folders(self, prefix: str) -> dict[str, float]:
        """Sub-folders and the folder's own modification time."""
        folder = self.path(prefix)
        if not folder.is_dir():
            return {}
        return {child.name: child.stat().st_mtime for child in folder.iterdir() if child.is_dir()}

    def local_path(self, key: str) -> Path | None:
        """The file itself."""
        return self.path(key)

    def probe(self) -> None:
        """The folder (or the nearest existing parent, where it will be made) must be a writable directory."""
        folder = self.root.absolute()
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"{folder} is not a writable folder")

    async def open(self, key: str) -> Opened | None:
        """The open file: a rename over it later leaves this handle on the version opened, and the end a
        patch in place may change was read when it was opened (in_place.snapshot)."""
        try:
            fd, stat, prefix, tail = await asyncio.to_thread(in_place.snapshot, self.path(key))
        except OSError:
            return None
        if not S_ISREG(stat.st_mode):
            os.close(fd)
            return None

        async def chunks() -> AsyncIterator[bytes]:
            offset = 0
            while offset < prefix and (
                chunk := await asyncio.to_thread(os.pread, fd, min(_CHUNK, prefix - offset), offset)
            ):
                offset += len(chunk)
                yield chunk
            if tail:
                yield tail

        closed = False

        async def close() -> None:
            nonlocal closed
            if not closed:  # a descriptor number is reused at once: never close it twice
                closed = True
                os.close(fd)

        size = prefix + len(tail)
        info = BlobInfo(key, size, stat.st_mtime, f"{stat.st_mtime_ns:x}-{size:x}")
        return Opened(info, chunks(), close)


DEFAULT_URL = "file://"


def open_store(url: str | None, data_dir: Path | str) -> BlobStore:
    """The store `CHURNS_STORAGE_URL` names: `file:///path` (empty: the data dir) or `s3://bucket/prefix`."""
    url = (url or "").strip()
    parsed = urlparse(url)
    if not url or parsed.scheme == "file":
        # file:///srv/data is absolute; file://data (a host part) is read as the relative path data.
        path = unquote(parsed.netloc + parsed.path) if url else ""
        return LocalBlobStore(Path(path) if path else Path(data_dir))
    if parsed.scheme == "s3":
        from churns_gql.blob_store_s3 import S3BlobStore

        return S3BlobStore.from_url(url)
    raise ValueError(f"CHURNS_STORAGE_URL must be file:///path or s3://bucket/prefix, not {url!r}")
