"""refinements.json patched in place: O(entry) bytes per completion, crash-safe at every step, never torn."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import threading
import time
import uuid
from pathlib import Path

import pytest

from churns_gql import in_place
from churns_gql.storage import INDEX_FILE, RunStorage
from tests.conftest import index_entry

OLD = 300
STEPS = ["journal", "patch", "fsync", "clear"]


def _seeded(tmp_path: Path, entries: int = OLD) -> tuple[RunStorage, uuid.UUID]:
    storage, run_id = RunStorage(tmp_path), uuid.uuid4()
    storage._update_index(run_id, [index_entry(f"old-{i}") for i in range(entries)], set())
    return storage, run_id


def _expected(job_ids: list[str]) -> bytes:
    """The file json.dumps(indent=2) writes for index_entry(j) of each job."""
    entries = [index_entry(j).as_dict() for j in job_ids]
    totals = {"total_cost": round(sum(e["cost"] for e in entries), 6), "total_refinements": len(entries)}
    return json.dumps({"refinements": entries} | totals, indent=2).encode()


def _old(extra: list[str] | None = None) -> bytes:
    return _expected([f"old-{i}" for i in range(OLD)] + (extra or []))


def _written() -> int:
    """Bytes this process has handed to write(2) and pwrite(2) so far."""
    return int(re.search(r"wchar: (\d+)", Path("/proc/self/io").read_text())[1])  # type: ignore[index]


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's per-process IO counters")
def test_a_completion_writes_bytes_in_proportion_to_its_entry_not_to_the_index(tmp_path):
    storage, run_id = _seeded(tmp_path, 2000)
    path = storage.path(run_id, INDEX_FILE)
    size, inode = path.stat().st_size, path.stat().st_ino
    before = _written()
    for i in range(5):
        storage._record_refinement(run_id, index_entry(f"new-{i}"))
    per_completion = (_written() - before) / 5
    # ~400 bytes of entry, written to the journal and to the file; the index is ~800 kB.
    assert per_completion < 4096 < size / 100
    assert path.stat().st_ino == inode
    assert path.read_bytes() == _expected([f"old-{i}" for i in range(2000)] + [f"new-{i}" for i in range(5)])


def test_an_unchanged_file_is_neither_read_nor_parsed_again(tmp_path, monkeypatch):
    storage, run_id = _seeded(tmp_path)
    reads: list[Path] = []
    real_read = in_place.read
    monkeypatch.setattr(in_place, "read", lambda path, start=0: reads.append(path) or real_read(path, start))
    storage._record_refinement(run_id, index_entry("a"))
    storage._record_refinement(run_id, index_entry("b"))
    assert reads == []
    RunStorage(tmp_path)._record_refinement(run_id, index_entry("c"))  # another process appends
    storage._record_refinement(run_id, index_entry("d"))
    assert len(reads) == 2  # the other process had no cache; ours saw the stamp change
    assert storage.path(run_id, INDEX_FILE).read_bytes() == _old(["a", "b", "c", "d"])


def test_replacements_removals_and_foreign_layouts_are_rewritten_whole(tmp_path):
    storage, run_id = _seeded(tmp_path, 3)
    path = storage.path(run_id, INDEX_FILE)
    inode = path.stat().st_ino
    storage._record_refinement(run_id, index_entry("old-1", cost=2.0))  # a job recorded again
    assert path.stat().st_ino != inode
    assert [e["job_id"] for e in storage.read_index(run_id)["refinements"]] == ["old-0", "old-2", "old-1"]
    path.write_text(json.dumps(json.loads(path.read_bytes())))  # one line, as another tool may write it
    storage._record_refinement(run_id, index_entry("x"))
    index = json.loads(path.read_bytes())
    assert path.read_bytes() == json.dumps(index, indent=2).encode() and index["total_refinements"] == 4


def _crash_at(data_dir: str, run_id: str, step: str) -> None:
    """A worker that dies (no cleanup, no unwinding) right after `step` of its tail patch."""

    def stop(name: str) -> None:
        if name == step:
            os._exit(17)

    in_place.after_step = stop  # type: ignore[assignment]
    RunStorage(data_dir)._record_refinement(run_id, index_entry("new"))
    os._exit(0)


def _crash(tmp_path: Path, run_id: uuid.UUID, step: str) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=_crash_at, args=(str(tmp_path), str(run_id), step))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 17


@pytest.mark.parametrize("step", STEPS)
async def test_a_writer_killed_after_any_step_loses_no_entry(tmp_path, step):
    storage, run_id = _seeded(tmp_path)
    _crash(tmp_path, run_id, step)
    path = storage.path(run_id, INDEX_FILE)
    if step == "journal":
        assert path.read_bytes() == _old()  # killed before touching the file: the journal holds the patch
    # Readers (the API's, /files) see the patch the journal promised, before any writer repairs the file.
    assert storage.store.read(storage.key(run_id, INDEX_FILE)) == _old(["new"])
    opened = await storage.store.open(storage.key(run_id, INDEX_FILE))
    assert opened is not None and b"".join([c async for c in opened.chunks]) == _old(["new"])
    assert opened.info.size == len(_old(["new"]))
    await opened.close()
    # The next writer, in another process with no cache, finishes the patch and adds its own.
    RunStorage(tmp_path)._record_refinement(run_id, index_entry("later"))
    assert path.read_bytes() == _old(["new", "later"])
    assert in_place.journal_path(path).stat().st_size == 0


def _journalled(tmp_path: Path) -> tuple[RunStorage, uuid.UUID, Path, in_place._Record]:
    """A run whose writer died right after journalling the addition of `new`, and that journal's record."""
    storage, run_id = _seeded(tmp_path)
    _crash(tmp_path, run_id, "journal")
    path = storage.path(run_id, INDEX_FILE)
    record = in_place._Record.decode(in_place.journal_path(path).read_bytes())
    assert record is not None
    return storage, run_id, path, record


@pytest.mark.parametrize("written", [1, 40, 0.5, 0.99])
def test_a_torn_patch_reads_as_the_journalled_version_and_is_finished(tmp_path, written):
    storage, run_id, path, record = _journalled(tmp_path)
    # A crash mid-write: part of the new tail reached the disk, the rest of the grown file is zeros.
    part = record.tail[: int(written * len(record.tail)) if written < 1 else written]
    with open(path, "r+b") as handle:
        handle.truncate(record.offset + len(record.tail))
        os.pwrite(handle.fileno(), part, record.offset)
    assert storage.read_index(run_id)["refinements"][-1]["job_id"] == "new"
    assert in_place.recover(path) and path.read_bytes() == _old(["new"])


def test_a_torn_or_stale_journal_is_ignored(tmp_path):
    storage, run_id, path, record = _journalled(tmp_path)
    journal = in_place.journal_path(path)
    raw = journal.read_bytes()
    journal.write_bytes(raw[: len(raw) // 2])  # torn while written: the patch never started
    assert storage.store.read(storage.key(run_id, INDEX_FILE)) == _old()
    journal.write_bytes(raw)
    storage._record_refinement(run_id, index_entry("later"))  # finishes `new`, then patches again
    journal.write_bytes(raw)  # the old record back, as if its clearing had not reached the disk
    assert storage.store.read(storage.key(run_id, INDEX_FILE)) == _old(["new", "later"])
    assert not in_place.recover(path) and path.read_bytes() == _old(["new", "later"])
    storage._update_index(run_id, [], {"new"})  # a full rewrite: another file, which no record names
    journal.write_bytes(raw)
    assert storage.store.read(storage.key(run_id, INDEX_FILE)) == _old(["later"])


def test_a_reader_waits_for_a_patch_in_progress(tmp_path, monkeypatch):
    storage, run_id = _seeded(tmp_path)
    path, results, reader_waited = storage.path(run_id, INDEX_FILE), [], []

    def slow_write(step: str) -> None:
        if step != "journal":
            return
        # The patch is being written: the file holds garbage where the trailer was.
        with open(path, "r+b") as handle:
            handle.seek(-20, os.SEEK_END)
            handle.write(b"\x00garbage, half a patch")
        reader = threading.Thread(target=lambda: results.append(RunStorage(tmp_path).read_index(run_id)))
        reader.start()
        time.sleep(0.3)
        reader_waited.append(reader.is_alive() and not results)
        threads.append(reader)

    threads: list[threading.Thread] = []
    monkeypatch.setattr(in_place, "after_step", slow_write)
    storage._record_refinement(run_id, index_entry("new"))
    threads[0].join(10)
    assert reader_waited == [True]
    assert [e["job_id"] for e in results[0]["refinements"]][-1] == "new"


async def test_a_file_being_sent_is_the_version_opened(tmp_path):
    storage, run_id = _seeded(tmp_path)
    opened = await storage.store.open(storage.key(run_id, INDEX_FILE))
    assert opened is not None
    for job in ("a", "b"):
        storage._record_refinement(run_id, index_entry(job))
    sent = b"".join([chunk async for chunk in opened.chunks])
    await opened.close()
    await opened.close()  # closing twice is harmless
    assert sent == _old() and opened.info.size == len(sent)


def test_a_bucket_is_rewritten_whole(tmp_path, s3_url):
    storage, run_id = RunStorage.from_url(s3_url, tmp_path), uuid.uuid4()
    storage._update_index(run_id, [index_entry("a")], set())
    storage._record_refinement(run_id, index_entry("b"))
    assert storage.store.read(storage.key(run_id, INDEX_FILE)) == _expected(["a", "b"])
    assert [i.key for i in storage.store.list(storage.key(run_id))] == [storage.key(run_id, INDEX_FILE)]
    assert storage._index_cache.get(str(run_id)).data == _expected(["a", "b"])  # its version: the bytes


def test_another_workers_appends_are_read_not_the_whole_index(tmp_path, monkeypatch):
    ours, run_id = _seeded(tmp_path)
    theirs = RunStorage(tmp_path)
    theirs._record_refinement(run_id, index_entry("t0"))  # theirs reads the whole file once
    ours._record_refinement(run_id, index_entry("o0"))
    read_from: list[int] = []
    real_read = in_place.read
    monkeypatch.setattr(in_place, "read", lambda path, start=0: read_from.append(start) or real_read(path, start))
    for i in range(1, 4):  # two workers taking turns, each seeing the other's entry since its last write
        theirs._record_refinement(run_id, index_entry(f"t{i}"))
        ours._record_refinement(run_id, index_entry(f"o{i}"))
    size = ours.path(run_id, INDEX_FILE).stat().st_size
    assert len(read_from) == 6 and min(read_from) > size * 0.95  # each read the last few entries
    assert ours.path(run_id, INDEX_FILE).read_bytes() == _old([f"{w}{i}" for i in range(4) for w in "to"])
    # A removal before their last entry moves it: ours notices and reads the file whole.
    theirs._update_index(run_id, [], {"old-5"})
    ours._record_refinement(run_id, index_entry("o4"))
    assert read_from[-2:] == [read_from[-2], 0]
    assert [e["job_id"] for e in ours.read_index(run_id)["refinements"]][-2:] == ["o3", "o4"]
    assert len(ours.read_index(run_id)["refinements"]) == OLD - 1 + 9


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace('"t0"', '"t9"'),  # their entry, same length: a stale copy must not be kept
        lambda text: text.replace('"job_id": "o0"', '"job_id":  "o0"'),  # our last entry moved by one byte
        lambda text: text.replace('"total_cost": ', '"total_cost":  '),  # another layout
    ],
)
def test_an_edit_that_is_not_an_append_is_read_whole(tmp_path, edit):
    ours, run_id = _seeded(tmp_path, 3)
    ours._record_refinement(run_id, index_entry("o0"))
    path = ours.path(run_id, INDEX_FILE)
    theirs = RunStorage(tmp_path)
    theirs._record_refinement(run_id, index_entry("t0"))
    with open(path, "r+b") as handle:  # edited in place: the same file, grown or not
        text = edit(handle.read().decode())
        handle.seek(0)
        handle.write(text.encode())
        handle.truncate()
    expected = json.loads(text)["refinements"]
    ours._record_refinement(run_id, index_entry("o1"))
    assert [e["job_id"] for e in ours.read_index(run_id)["refinements"]] == [e["job_id"] for e in expected] + ["o1"]
    assert path.read_bytes() == json.dumps(json.loads(path.read_bytes()), indent=2).encode()


def test_a_file_changed_by_a_writer_without_the_lock_is_read_again(tmp_path, monkeypatch):
    storage, run_id = _seeded(tmp_path, 3)
    path, real_patch = storage.path(run_id, INDEX_FILE), in_place.patch

    def meddle(*args):
        monkeypatch.setattr(in_place, "patch", real_patch)
        path.write_bytes(_expected(["old-0", "old-1", "old-2", "theirs"]))  # between our read and our patch
        return real_patch(*args)

    monkeypatch.setattr(in_place, "patch", meddle)
    storage._record_refinement(run_id, index_entry("ours"))
    assert path.read_bytes() == _expected(["old-0", "old-1", "old-2", "theirs", "ours"])


def test_totals_patched_one_entry_at_a_time_are_those_of_the_whole_list(tmp_path):
    costs = [0.1, 0.2, 0.30000000000000004, 1e-7, 3, 0.7, 1e16, -1e16, 0.015, 2.675]
    storage, run_id = RunStorage(tmp_path), uuid.uuid4()
    storage._update_index(run_id, [index_entry("first", 0.1)], set())
    for i, cost in enumerate(costs):
        storage._record_refinement(run_id, index_entry(f"j{i}", cost))
    entries = [index_entry("first", 0.1).as_dict()] + [index_entry(f"j{i}", c).as_dict() for i, c in enumerate(costs)]
    index = {"refinements": entries, "total_cost": round(sum(e["cost"] for e in entries), 6), "total_refinements": 11}
    assert storage.path(run_id, INDEX_FILE).read_bytes() == json.dumps(index, indent=2).encode()
