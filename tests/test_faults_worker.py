"""R1: 50 refinements, the worker kill -9'd mid-job and started again: all end terminal, nothing doubled."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys

from PIL import Image as PILImage
from sqlalchemy import func, select

from churns_gql.graphql.ids import decode_id
from churns_gql.models import JobStatus, Refinement, StageEvent
from tests.conftest import ROOT, import_images, refine

COUNT = 50


def _noise_png(size: int = 1024) -> bytes:
    out = io.BytesIO()
    PILImage.effect_noise((size, size), 60).convert("RGB").save(out, format="PNG")
    return out.getvalue()


async def _start_worker(settings, log_path):
    env = {
        **os.environ,
        "CHURNS_DATABASE_URL": settings.database_url,
        "CHURNS_REDIS_URL": settings.redis_url,
        "CHURNS_DATA_DIR": str(settings.data_dir),
        "CHURNS_PROVIDER": "local",
    }
    env.pop("OPENAI_API_KEY", None)
    log = open(log_path, "ab")  # noqa: SIM115 - the worker process writes to it until the test stops it
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "churns_gql.cli", "worker", cwd=ROOT, env=env, stdout=log, stderr=log
    )


async def _counts(services) -> dict[JobStatus, int]:
    async with services.db() as session:
        rows = await session.execute(select(Refinement.status, func.count()).group_by(Refinement.status))
        return {status: n for status, n in rows}


async def test_worker_killed_mid_job_loses_nothing(client, services, settings, tmp_path):
    run = (await import_images(client, [_noise_png()]))["run"]
    parent = run["images"][0]["id"]
    ids = [
        (await refine(client, parent, prompt="warmer, more contrast and sharpen"))["refinement"]["id"]
        for _ in range(COUNT)
    ]
    first = await _start_worker(settings, tmp_path / "worker.log")
    try:
        for _ in range(600):  # kill it while a job is running and others still wait
            counts = await _counts(services)
            if counts.get(JobStatus.RUNNING) and counts.get(JobStatus.COMPLETED, 0) >= 2:
                # Frozen first, so the job seen RUNNING cannot finish between the look and the kill.
                first.send_signal(signal.SIGSTOP)
                counts = await _counts(services)
                if counts.get(JobStatus.RUNNING):
                    break
                first.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.02)
        assert counts.get(JobStatus.RUNNING), f"never caught a job running: {counts}"
        first.send_signal(signal.SIGKILL)
        await first.wait()
        killed_at = await _counts(services)
        assert killed_at.get(JobStatus.RUNNING) and killed_at.get(JobStatus.COMPLETED, 0) < COUNT
    finally:
        if first.returncode is None:
            first.kill()
    second = await _start_worker(settings, tmp_path / "worker.log")
    try:
        for _ in range(900):
            counts = await _counts(services)
            if sum(n for s, n in counts.items() if s.is_terminal) == COUNT:
                break
            await asyncio.sleep(0.1)
        assert counts == {JobStatus.COMPLETED: COUNT}, (counts, (tmp_path / "worker.log").read_text()[-3000:])
    finally:
        second.terminate()
        await asyncio.wait_for(second.wait(), 30)

    run_dir = services.storage.run_dir(decode_id(run["id"])[1])
    outputs = sorted(p.name for p in (run_dir / "refinements").glob("*_from_0.png"))
    assert outputs == sorted(f"{decode_id(i)[1]}_from_0.png" for i in ids)
    index = json.loads((run_dir / "refinements.json").read_text())
    assert sorted(e["job_id"] for e in index["refinements"]) == sorted(str(decode_id(i)[1]) for i in ids)
    assert index["total_refinements"] == COUNT
    async with services.db() as session:
        terminal = await session.execute(
            select(StageEvent.job_id, func.count()).where(StageEvent.terminal.is_(True)).group_by(StageEvent.job_id)
        )
        assert sorted(n for _, n in terminal) == [1] * COUNT
        restarted = await session.scalar(
            select(func.count()).select_from(StageEvent).where(StageEvent.message == "restarted after an interruption")
        )
    assert restarted >= 1  # the killed worker's jobs were resumed, not lost
