"""Files changed in place at their end: a crash-safe tail patch, and reads that never see half of one.

refinements.json grows by one entry per completion; rewriting the whole file each time costs O(index).
A patch instead replaces the file's last bytes (the old trailer) with the new entries and the new trailer.

Crash safety comes from a redo journal beside the file (`.{name}.journal`): the patch's target (device,
inode, sizes, the bytes just before the patch) and its new bytes, checksummed and fsynced before the file
is touched. A patch only replaces bytes from `offset` on, so the state after any crash is the old file,
the new one, or the old prefix with a torn tail, and the journal turns all three into the new file.

Readers and the patcher share a flock on the file itself: the patcher holds it exclusively from before
it writes the journal until the journal is cleared, so a reader holding it shared sees either no
journal or one left by a patcher that died, whose result it applies in memory. Writers of one file are
serialized by their caller (storage.py's lock file and the run's advisory lock): recover() and patch()
assume it. A full rewrite (temp file + rename) stays the path for every other change.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A patch replaces at most this many bytes of the old file (a trailer is ~80): readers streaming a file
# take its last TAIL_WINDOW bytes under the lock and the rest from their open handle, which no patch touches.
TAIL_WINDOW = 4096
# Bytes just before the patch, recorded in the journal: they identify the version the journal belongs to.
ANCHOR = 64
_MAGIC = b"churns-tail-patch/1\n"
_DIGEST = 32


class StaleFile(Exception):
    """The file is not the version the patch was computed from."""


@dataclass(frozen=True)
class Stamp:
    """What identifies one version of a file without reading it: device, inode, size, modification time."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> Stamp:
        """The stamp of a stat result."""
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class _Record:
    """A journalled patch: the file version it applies to and the bytes that replace its tail."""

    dev: int
    ino: int
    offset: int
    old_size: int
    anchor: bytes
    tail: bytes

    def encode(self) -> bytes:
        """The record as the journal holds it: magic, a JSON head, the tail, a SHA-256 of all that."""
        head = {k: v for k, v in self.__dict__.items() if k != "tail"} | {"anchor": self.anchor.hex()}
        body = _MAGIC + json.dumps(head).encode() + b"\n" + self.tail
        return body + hashlib.sha256(body).digest()

    @classmethod
    def decode(cls, raw: bytes) -> _Record | None:
        """The record in a journal's bytes, None when it is empty or torn."""
        body, digest = raw[:-_DIGEST], raw[-_DIGEST:]
        if not body.startswith(_MAGIC) or hashlib.sha256(body).digest() != digest:
            return None  # empty, or torn while written: the patch it announced never started
        head, _, tail = body[len(_MAGIC) :].partition(b"\n")
        fields: dict[str, Any] = json.loads(head)
        return cls(tail=tail, **(fields | {"anchor": bytes.fromhex(fields["anchor"])}))

    def applies_to(self, stat: os.stat_result, read_at: Callable[[int, int], bytes]) -> bool:
        """Whether the file is this record's old, torn or new version (not a later one or another file)."""
        if (stat.st_dev, stat.st_ino) != (self.dev, self.ino):
            return False
        if not self.old_size <= stat.st_size <= self.offset + len(self.tail):
            return False
        return read_at(self.offset - len(self.anchor), len(self.anchor)) == self.anchor


def journal_path(path: Path) -> Path:
    """The journal of `path`."""
    return path.with_name(f".{path.name}.journal")


def after_step(step: str) -> None:
    """Called after each step of a patch with the step's name: crash tests stop the process there."""


def _pending(path: Path, stat: os.stat_result, read_at: Callable[[int, int], bytes]) -> _Record | None:
    """The journalled patch a crashed patcher left on this version of `path`, if any."""
    try:
        raw = journal_path(path).read_bytes()
    except FileNotFoundError:
        return None
    record = _Record.decode(raw) if raw else None
    return record if record is not None and record.applies_to(stat, read_at) else None


@contextmanager
def _locked(path: Path, flags: int, lock: int) -> Iterator[int]:
    """The file opened with `flags` and flocked with `lock` until the block ends."""
    fd = os.open(path, flags)
    try:
        fcntl.flock(fd, lock)
        yield fd
    finally:
        os.close(fd)  # releases the flock


def _read_range(fd: int, start: int, end: int) -> bytes:
    """Bytes `start` to `end` of an open file."""
    chunks, offset = [], start
    while offset < end and (chunk := os.pread(fd, min(end - offset, 1 << 22), offset)):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def read(path: Path, start: int = 0) -> tuple[bytes, Stamp]:
    """The file's bytes from `start` on and its stamp, a crashed patch applied; raises FileNotFoundError."""
    with _locked(path, os.O_RDONLY, fcntl.LOCK_SH) as fd:
        stat = os.fstat(fd)
        record = _pending(path, stat, lambda at, n: os.pread(fd, n, at))
        if record is None:
            return _read_range(fd, start, stat.st_size), Stamp.of(stat)
        begin = min(start, record.offset)
        data = _read_range(fd, begin, record.offset) + record.tail
        return data[start - begin :], Stamp.of(stat)


def ends_with(path: Path, suffix: bytes) -> bool:
    """Whether the file's last bytes are `suffix` (a cheap check that a stamp did not mislead)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        return size >= len(suffix) and os.pread(handle.fileno(), len(suffix), size - len(suffix)) == suffix


def snapshot(path: Path) -> tuple[int, os.stat_result, int, bytes]:
    """An open descriptor, its stat, and a version to send: the descriptor's first `n` bytes, then `tail`.

    The caller closes the descriptor. Bytes before `n` are never changed by a patch (only a rename
    replaces them, which leaves the descriptor on the old file), so the send needs no lock.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        stat = os.fstat(fd)
        record = _pending(path, stat, lambda at, n: os.pread(fd, n, at))
        if record is not None:
            prefix, tail = record.offset, record.tail
        else:
            prefix = max(0, stat.st_size - TAIL_WINDOW)
            tail = os.pread(fd, stat.st_size - prefix, prefix)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BaseException:
        os.close(fd)
        raise
    return fd, stat, prefix, tail


def _fsync_folder(folder: Path) -> None:
    """Make a folder's entries (a new file's name) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_journal(path: Path, raw: bytes) -> None:
    """Put one record in the journal of `path`, durably, before the file is touched."""
    journal = journal_path(path)
    try:
        fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
    except FileExistsError:
        fd, created = os.open(journal, os.O_WRONLY), False
    try:
        os.pwrite(fd, raw, 0)
        os.ftruncate(fd, len(raw))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # the journal's name must survive a crash too
        _fsync_folder(path.parent)


def _clear_journal(path: Path, durable: bool) -> None:
    """Empty the journal; `durable` when a later full rewrite must not find a stale record after a crash."""
    try:
        fd = os.open(journal_path(path), os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        os.ftruncate(fd, 0)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def recover(path: Path) -> bool:
    """Finish a patch a crashed writer left half done and clear the journal; True if there was one."""
    journal = journal_path(path)
    if not journal.exists() or journal.stat().st_size == 0:
        return False
    try:
        with _locked(path, os.O_RDWR, fcntl.LOCK_EX) as fd:
            record = _pending(path, os.fstat(fd), lambda at, n: os.pread(fd, n, at))
            if record is not None:
                os.pwrite(fd, record.tail, record.offset)
                os.ftruncate(fd, record.offset + len(record.tail))
                os.fsync(fd)
            _clear_journal(path, durable=True)
            return record is not None
    except FileNotFoundError:
        _clear_journal(path, durable=True)
        return False


def prepare_rewrite(path: Path) -> None:
    """Before a full rewrite replaces the file: finish any pending patch and clear its journal for good."""
    if not recover(path) and journal_path(path).exists():
        _clear_journal(path, durable=True)


def patch(path: Path, offset: int, tail: bytes, expect: Stamp) -> Stamp:
    """Replace the file's bytes from `offset` on with `tail`; raises StaleFile unless it is still `expect`."""
    with _locked(path, os.O_RDWR, fcntl.LOCK_EX) as fd:
        stat = os.fstat(fd)
        if Stamp.of(stat) != expect:
            raise StaleFile(str(path))
        old_size = stat.st_size
        if not ANCHOR <= offset <= old_size or old_size - offset > TAIL_WINDOW or offset + len(tail) < old_size:
            raise ValueError(f"a tail patch replaces at most the last {TAIL_WINDOW} bytes and never shrinks")
        old_tail = os.pread(fd, old_size - offset, offset)
        anchor = os.pread(fd, ANCHOR, offset - ANCHOR)
        _write_journal(path, _Record(stat.st_dev, stat.st_ino, offset, old_size, anchor, tail).encode())
        after_step("journal")
        try:
            os.pwrite(fd, tail, offset)
            after_step("patch")
            os.ftruncate(fd, offset + len(tail))
            os.fsync(fd)
            after_step("fsync")
        except BaseException:
            _undo(path, fd, offset, old_tail)
            raise
        _clear_journal(path, durable=False)
        after_step("clear")
        return Stamp.of(os.fstat(fd))


def _undo(path: Path, fd: int, offset: int, old_tail: bytes) -> None:
    """Put the old tail back after a failed patch (a full disk); if even that fails, the journal rolls forward."""
    try:
        os.pwrite(fd, old_tail, offset)
        os.ftruncate(fd, offset + len(old_tail))
        os.fsync(fd)
        _clear_journal(path, durable=True)
    except OSError:
        pass
