"""The client commands against the running server: import, refine --watch to 100%, tree, runs, cancel."""

from __future__ import annotations

import asyncio
import sys

import pytest

from churns_gql.client import parse_rect, progress_bar
from churns_gql.worker import make_worker
from tests.conftest import ROOT, png_bytes


async def _cli(base_url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "churns_gql.cli",
        *args,
        "--server",
        base_url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def worker(worker_services):
    w = make_worker(worker_services)
    task = asyncio.create_task(w.async_run())
    yield w
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await w.close()


def test_progress_bar_and_rect_parsing():
    assert progress_bar(0.5, "prompt_refine", width=10) == "[#####.....]  50% prompt_refine"
    assert progress_bar(1.0, "COMPLETED", width=4) == "[####] 100% COMPLETED"
    assert parse_rect("0.1,0.2,0.3,0.4") == {"x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4}
    with pytest.raises(ValueError):
        parse_rect("1,2")


async def test_import_refine_watch_tree_and_cancel(live_server, worker, tmp_path):
    image = tmp_path / "shoe.png"
    image.write_bytes(png_bytes(120, 90, (200, 60, 60)))
    code, out, err = await _cli(live_server, "import", str(image), "--prompt", "shoes")
    assert code == 0, err
    run_id = out.split()[1]
    image_id = out.splitlines()[1].split()[2]

    code, out, err = await _cli(
        live_server, "refine", image_id, "--type", "prompt", "--prompt", "warmer", "--mask", "0,0,0.5,0.5", "--watch"
    )
    assert code == 0, err
    assert "100% COMPLETED" in out and "v2 QUEUED" in out
    refinement_id = out.split()[1]

    code, out, err = await _cli(live_server, "refine", refinement_id, "--prompt", "black and white", "--watch")
    assert code == 0 and "100% COMPLETED" in out, err

    code, out, err = await _cli(live_server, "tree", run_id)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"run {run_id} COMPLETED")
    assert "v2 PROMPT" in lines[2] and "(1 region)" in lines[2]
    assert lines[3].startswith("    └─ v3 PROMPT")

    code, out, err = await _cli(live_server, "runs")
    assert code == 0 and run_id in out and "1 of 1 runs" in out

    code, out, err = await _cli(live_server, "cancel", refinement_id)
    assert code == 1 and "CONFLICT" in err and "Traceback" not in err


async def test_a_refusal_is_one_line_not_a_traceback(live_server):
    code, out, err = await _cli(live_server, "refine", "nope", "--prompt", "x")
    assert code == 1 and "NOT_FOUND" in err and "Traceback" not in err
    code, out, err = await _cli("http://127.0.0.1:1", "runs")
    assert code == 1 and "cannot reach" in err


async def test_tree_shows_chains_deeper_than_one_query_reaches(live_server, services, tmp_path):
    import uuid

    from churns_gql.graphql.ids import decode_id
    from churns_gql.models import JobStatus, Refinement, RefinementType

    image = tmp_path / "a.png"
    image.write_bytes(png_bytes())
    code, out, _ = await _cli(live_server, "import", str(image))
    run_gid, image_gid = out.split()[1], out.splitlines()[1].split()[2]
    parent = decode_id(image_gid)[1]
    async with services.db() as session:
        for version in range(2, 12):
            ref = Refinement(
                id=uuid.uuid4(),
                run_id=decode_id(run_gid)[1],
                generation_index=0,
                version=version,
                type=RefinementType.TEXT,
                status=JobStatus.COMPLETED,
                creativity_level=2,
                parent_image_id=parent if version == 2 else None,
                parent_refinement_id=parent if version > 2 else None,
            )
            session.add(ref)
            await session.flush()
            parent = ref.id
        await session.commit()
    code, out, err = await _cli(live_server, "tree", run_gid)
    assert code == 0, err
    versions = [line.split("v", 1)[1].split()[0] for line in out.splitlines() if "└─" in line]
    assert versions == [str(v) for v in range(2, 12)]
    assert out.splitlines()[-1].startswith("  " * 10 + "└─ v11 TEXT")
