"""Run storage: paths, atomic writes, and refinements.json under concurrent writers."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import uuid

from churns_gql.storage import RunStorage, original_path, reference_path, refinement_path
from tests.conftest import index_entry


def test_paths_follow_the_run_folder_layout():
    job, parent = uuid.uuid4(), uuid.uuid4()
    assert original_path(3) == "originals/image_3.png"
    assert refinement_path(job, 0) == f"refinements/{job}_from_0.png"
    assert refinement_path(job, parent) == f"refinements/{job}_from_{parent}.png"
    assert reference_path(job) == f"refinements/{job}_reference.png"


async def test_twenty_concurrent_writers_lose_nothing(tmp_path):
    storage = RunStorage(tmp_path)
    run_id = uuid.uuid4()
    jobs = [str(uuid.uuid4()) for _ in range(20)]
    await asyncio.gather(*(storage.record_refinement(run_id, index_entry(j)) for j in jobs))
    index = json.loads(storage.path(run_id, "refinements.json").read_text())
    assert sorted(e["job_id"] for e in index["refinements"]) == sorted(jobs)
    assert index["total_refinements"] == 20 and index["total_cost"] == 10.0
    assert set(index) == {"refinements", "total_cost", "total_refinements"}
    assert set(index["refinements"][0]) == {
        "job_id",
        "parent_image_id",
        "parent_image_path",
        "image_path",
        "type",
        "summary",
        "cost",
        "created_at",
    }
    # No temp files left behind by the atomic writes, and the in-place patches' journal is empty.
    names = sorted(p.name for p in storage.run_dir(run_id).iterdir())
    assert names == [".refinements.json.journal", ".refinements.lock", "refinements.json"]
    assert storage.path(run_id, ".refinements.json.journal").stat().st_size == 0


def _write_from_process(data_dir: str, run_id: str, job_ids: list[str]) -> None:
    storage = RunStorage(data_dir)
    for job in job_ids:
        asyncio.run(storage.record_refinement(run_id, index_entry(job, 0.1)))


def test_writers_in_separate_processes_lose_nothing(tmp_path):
    run_id = str(uuid.uuid4())
    batches = [[str(uuid.uuid4()) for _ in range(10)] for _ in range(4)]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_from_process, args=(str(tmp_path), run_id, b)) for b in batches]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    index = RunStorage(tmp_path).read_index(run_id)
    assert sorted(e["job_id"] for e in index["refinements"]) == sorted(j for b in batches for j in b)
    assert index["total_refinements"] == 40


async def test_recording_a_job_twice_keeps_one_entry(tmp_path):
    storage = RunStorage(tmp_path)
    run_id = uuid.uuid4()
    await storage.record_refinement(run_id, index_entry("a", 1.0))
    await storage.record_refinement(run_id, index_entry("a", 2.0))
    index = storage.read_index(run_id)
    assert [e["job_id"] for e in index["refinements"]] == ["a"]
    assert index["total_cost"] == 2.0


async def test_run_dir_appears_whole_or_not_at_all(tmp_path):
    storage = RunStorage(tmp_path)
    run_id = uuid.uuid4()
    await storage.create_run_dir(run_id, {"originals/image_0.png": b"x", "pipeline_metadata.json": b"{}"})
    assert storage.path(run_id, "originals/image_0.png").read_bytes() == b"x"
    try:
        await storage.create_run_dir(run_id, {"a": b"y"})
        raise AssertionError("a run folder must never be overwritten")
    except OSError:
        pass
    assert [p.name for p in storage.runs_dir.iterdir()] == [str(run_id)]  # no staging folder left
