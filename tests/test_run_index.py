"""refinements.json with writers on several machines: the run's advisory lock, and bursts coalesced."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid

from sqlalchemy import func, select

from churns_gql.db import make_engine, make_sessionmaker
from churns_gql.services import run_index
from churns_gql.storage import IndexEntry, RunStorage
from tests.conftest import TEST_DATABASE_URL, index_entry


def _entry(job_id: str) -> IndexEntry:
    """An index entry costing 0.25 (the totals below count on it)."""
    return index_entry(job_id, cost=0.25)


async def _complete_jobs(storage_url: str, run_id: str, jobs: list[str]) -> None:
    """One 'machine': its own engine and storage client, completions arriving in small concurrent waves."""
    engine = make_engine(TEST_DATABASE_URL, pool_size=5)
    db = make_sessionmaker(engine)
    storage = RunStorage.from_url(storage_url, "unused")
    try:
        for start in range(0, len(jobs), 3):
            await asyncio.gather(*(run_index.record(db, storage, run_id, [_entry(j)]) for j in jobs[start : start + 3]))
    finally:
        await engine.dispose()


def _machine(storage_url: str, run_id: str, jobs: list[str]) -> None:
    asyncio.run(_complete_jobs(storage_url, run_id, jobs))


def test_two_machines_completing_jobs_of_one_run_on_a_bucket_lose_no_entry(engine, s3_url):
    # A bucket has no flock: only the advisory lock orders the two read-modify-writes.
    run_id = str(uuid.uuid4())
    batches = [[str(uuid.uuid4()) for _ in range(24)] for _ in range(2)]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_machine, args=(s3_url, run_id, batch)) for batch in batches]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    index = RunStorage.from_url(s3_url, "unused").read_index(run_id)
    assert sorted(e["job_id"] for e in index["refinements"]) == sorted(j for b in batches for j in b)
    assert index["total_refinements"] == 48 and index["total_cost"] == 12.0


async def test_a_writer_waits_for_the_run_lock_held_elsewhere(clean_db, s3_url):
    db, storage, run_id = make_sessionmaker(clean_db), RunStorage.from_url(s3_url, "unused"), uuid.uuid4()
    async with db() as holder, holder.begin():
        await holder.execute(select(func.pg_advisory_xact_lock(run_index.lock_key(run_id))))
        writer = asyncio.create_task(run_index.record(db, storage, run_id, [_entry("a")]))
        await asyncio.sleep(0.5)
        assert not writer.done() and not await storage.exists(run_id, "refinements.json")
    await asyncio.wait_for(writer, 10)
    assert [e["job_id"] for e in storage.read_index(run_id)["refinements"]] == ["a"]
    # Another run's lock is another key: it does not wait.
    other = uuid.uuid4()
    async with db() as holder, holder.begin():
        await holder.execute(select(func.pg_advisory_xact_lock(run_index.lock_key(run_id))))
        await asyncio.wait_for(run_index.record(db, storage, other, [_entry("b")]), 5)


async def test_a_burst_of_completions_costs_few_rewrites_and_loses_nothing(clean_db, tmp_path):
    db, storage, run_id = make_sessionmaker(clean_db), RunStorage(tmp_path), uuid.uuid4()
    await storage.update_index(run_id, [_entry(f"old-{i}") for i in range(2000)], set())
    before = run_index.rewrites
    jobs = [str(uuid.uuid4()) for _ in range(40)]
    results = await asyncio.gather(*(run_index.record(db, storage, run_id, [_entry(j)]) for j in jobs))
    index = storage.read_index(run_id)
    assert {j for j in jobs} <= {e["job_id"] for e in index["refinements"]} and index["total_refinements"] == 2040
    # 40 completions arriving together: one rewrite of the 2000-entry file, not 40.
    assert run_index.rewrites - before == 1
    assert all(r["total_refinements"] == 2040 for r in results)


async def test_drops_and_additions_in_one_burst_both_apply(clean_db, tmp_path):
    db, storage, run_id = make_sessionmaker(clean_db), RunStorage(tmp_path), uuid.uuid4()
    await run_index.record(db, storage, run_id, [_entry("a"), _entry("b")])
    await asyncio.gather(
        run_index.record(db, storage, run_id, drop={"a"}), run_index.record(db, storage, run_id, [_entry("c")])
    )
    assert [e["job_id"] for e in storage.read_index(run_id)["refinements"]] == ["b", "c"]


async def test_a_cancelled_caller_leaves_the_shared_rewrite_running(clean_db, tmp_path):
    db, storage, run_id = make_sessionmaker(clean_db), RunStorage(tmp_path), uuid.uuid4()
    first = asyncio.create_task(run_index.record(db, storage, run_id, [_entry("a")]))
    second = asyncio.create_task(run_index.record(db, storage, run_id, [_entry("b")]))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second)["total_refinements"] == 2
    assert {e["job_id"] for e in storage.read_index(run_id)["refinements"]} == {"a", "b"}
