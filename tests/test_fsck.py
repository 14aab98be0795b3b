"""fsck: rows without files, lost index entries (a full disk between the PNG and the index), orphans."""

from __future__ import annotations

import errno
import os
import time
from datetime import timedelta

from sqlalchemy import select

from churns_gql.cli import main
from churns_gql.graphql.ids import decode_id
from churns_gql.models import JobStatus, Refinement
from churns_gql.services import fsck
from tests.conftest import import_images, png_bytes, refine, run_worker


def _age(path, seconds: float = fsck.GRACE_S + 60) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


async def _two_completed(client, worker_services, expect_ok: bool = True):
    run = (await import_images(client, [png_bytes(80, 60)]))["run"]
    image = run["images"][0]["id"]
    ids = [(await refine(client, image, prompt=p))["refinement"]["id"] for p in ("warmer", "cooler")]
    done = await run_worker(worker_services)
    assert done == 2 if expect_ok else done == 0
    return decode_id(run["id"])[1], [decode_id(i)[1] for i in ids]


async def _completed_without_index(client, services, worker_services, monkeypatch):
    """Two refinements completed while the disk was full for refinements.json; the disk has room again."""
    original = type(services.storage)._write_index

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    # The one place refinements.json is written, whether a completion is alone or coalesced with others.
    monkeypatch.setattr(type(services.storage), "_write_index", disk_full)
    found = await _two_completed(client, worker_services, expect_ok=False)
    monkeypatch.setattr(type(services.storage), "_write_index", original)
    return found


async def _reaper_pass(worker_services) -> str:
    """One pass of the worker's reaper cron; its summary."""
    from arq import create_pool

    from churns_gql.queue import redis_settings
    from churns_gql.worker import WorkerStats, reap_lost_jobs

    pool = await create_pool(redis_settings(worker_services.settings.redis_url))
    try:
        return await reap_lost_jobs({"services": worker_services, "redis": pool, "stats": WorkerStats()})
    finally:
        await pool.aclose()


async def test_a_full_disk_between_the_png_and_the_index_is_repaired(client, services, worker_services, monkeypatch):
    run_id, ids = await _completed_without_index(client, services, worker_services, monkeypatch)
    async with services.db() as session:
        statuses = list(await session.scalars(select(Refinement.status)))
    index = services.storage.read_index(run_id)["refinements"]
    # Whatever the job reported, the index lacks what the disk refused; fsck finds and restores it.
    missing = {str(i) for i in ids} - {e["job_id"] for e in index}
    completed = sum(s == JobStatus.COMPLETED for s in statuses)
    report = await fsck.check(services.db, services.storage)
    assert len(report.missing_index_entries) == len(missing) == completed > 0
    repaired = await fsck.check(services.db, services.storage, repair=True)
    assert repaired.missing_index_entries == report.missing_index_entries
    assert (await fsck.check(services.db, services.storage)).clean
    assert {e["job_id"] for e in services.storage.read_index(run_id)["refinements"]} >= missing


async def test_rows_without_files_orphans_and_stale_entries(client, services, worker_services):
    run_id, (first, second) = await _two_completed(client, worker_services)
    async with services.db() as session:
        lost = await session.get(Refinement, first)
        lost_path = services.storage.path(run_id, lost.image_path)
    lost_path.unlink()
    orphan = services.storage.run_dir(run_id) / "refinements" / "left-behind_reference.png"
    orphan.write_bytes(b"x")
    _age(orphan)
    fresh = services.storage.run_dir(run_id) / "refinements" / "in-flight.png"
    fresh.write_bytes(b"y")  # young: may belong to a commit in progress, so never an orphan

    report = await fsck.check(services.db, services.storage)
    assert report.rows_without_files == [f"{run_id}/{first}"]
    assert report.stale_index_entries == [f"{run_id}/{first}"]
    assert report.orphan_files == [f"{run_id}/refinements/left-behind_reference.png"]
    await fsck.check(services.db, services.storage, repair=True)
    async with services.db() as session:
        row = await session.get(Refinement, first)
        assert row.status == JobStatus.FAILED and row.error_message == fsck.LOST_FILE
        assert (await session.get(Refinement, second)).status == JobStatus.COMPLETED
    assert not orphan.exists() and fresh.exists()
    assert [e["job_id"] for e in services.storage.read_index(run_id)["refinements"]] == [str(second)]
    assert (await fsck.check(services.db, services.storage)).clean


async def test_orphan_run_folders_are_found(services):
    folder = services.storage.runs_dir / "00000000-0000-4000-8000-000000000001"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"z")
    _age(folder)
    report = await fsck.check(services.db, services.storage)
    assert report.orphan_run_dirs == [folder.name]
    await fsck.check(services.db, services.storage, repair=True)
    assert not folder.exists()


def test_the_cli_exits_1_when_something_is_wrong(services, capsys, monkeypatch):
    from churns_gql.config import get_settings

    folder = services.storage.runs_dir / "00000000-0000-4000-8000-000000000002"
    folder.mkdir(parents=True)
    _age(folder)
    monkeypatch.setenv("CHURNS_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("CHURNS_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setattr("churns_gql.cli.get_settings", lambda: get_settings.__wrapped__())
    assert main(["fsck"]) == 1
    assert "orphan run dirs" in capsys.readouterr().out
    assert main(["fsck", "--repair"]) == 0
    assert main(["fsck"]) == 0


async def test_the_reapers_pass_restores_entries_a_full_disk_lost(client, services, worker_services, monkeypatch):
    run_id, ids = await _completed_without_index(client, services, worker_services, monkeypatch)
    monkeypatch.setattr(fsck, "INDEX_SETTLE", timedelta(0))  # as if the completions were a minute old
    async with services.db() as session:
        completed = {str(r.id) for r in await session.scalars(select(Refinement)) if r.status == JobStatus.COMPLETED}
    indexed = {e["job_id"] for e in services.storage.read_index(run_id)["refinements"]}
    assert completed and not completed & indexed  # the client was told COMPLETED, the index lost them
    summary = await _reaper_pass(worker_services)
    assert f"indexed {len(completed)}" in summary
    assert {e["job_id"] for e in services.storage.read_index(run_id)["refinements"]} == completed
    assert (await fsck.check(services.db, services.storage)).clean


async def test_the_reapers_pass_leaves_a_completion_that_is_still_writing_its_entry(
    client, services, worker_services, monkeypatch
):
    # A job commits COMPLETED and then writes its entry: a pass in between must not write it a second time
    # (it read the parent again and raced the job for the run's index lock).
    run_id, _ = await _completed_without_index(client, services, worker_services, monkeypatch)
    summary = await _reaper_pass(worker_services)
    assert "indexed 0" in summary
    assert services.storage.read_index(run_id)["refinements"] == []
