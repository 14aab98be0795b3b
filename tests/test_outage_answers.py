"""A backing service that fails (a full disk, like an unreachable database) answers with a code, never INTERNAL."""

from __future__ import annotations

import errno

import pytest
from sqlalchemy import func, select

from churns_gql.models import Run
from tests.conftest import IMPORT_RUN, png_bytes


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EDQUOT])
async def test_a_full_disk_answers_unavailable_and_leaves_nothing(client, services, monkeypatch, number):
    store = services.storage.store
    written: list[str] = []

    def full(prefix, files):
        written.append(prefix)
        raise OSError(number, "No space left on device")

    monkeypatch.setattr(store, "write_tree", full)
    response = await client.upload(
        IMPORT_RUN, {"input": {"images": [None]}}, {"input.images.0": ("a.png", png_bytes(), "image/png")}
    )
    body = response.json()
    assert written, "the import never reached the disk"
    assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE", body
    assert "storage" in body["errors"][0]["message"]
    assert "errorId" not in body["errors"][0]["extensions"]
    async with services.db() as session:
        assert await session.scalar(select(func.count()).select_from(Run)) == 0
    runs_dir = services.storage.runs_dir
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


async def test_other_os_errors_stay_masked(client, services, monkeypatch):
    def broken(prefix, files):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(services.storage.store, "write_tree", broken)
    response = await client.upload(
        IMPORT_RUN, {"input": {"images": [None]}}, {"input.images.0": ("a.png", png_bytes(), "image/png")}
    )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL" and error["extensions"]["errorId"]


async def test_a_job_that_finds_the_disk_full_fails_saying_so(client, services, worker_services, monkeypatch):
    from churns_gql.graphql.ids import decode_id
    from churns_gql.models import JobStatus, Refinement
    from tests.conftest import import_images, refine, run_worker

    parent = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]
    job = (await refine(client, parent, prompt="warmer"))["refinement"]["id"]

    async def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(services.storage), "write_bytes", full)
    await run_worker(worker_services)
    async with services.db() as session:
        row = await session.get(Refinement, decode_id(job)[1])
    assert row.status == JobStatus.FAILED
    assert "storage is full" in row.error_message and "unexpectedly" not in row.error_message, row.error_message
