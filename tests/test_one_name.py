"""One name per concept (issue 14, item 6): one refinement-type enum, one rectangle type, the parent read once per
job, and no module over 400 lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from churns_gql import geometry, models, refinement_types
from churns_gql.graphql.ids import decode_id
from churns_gql.pipeline.executor import load_stage_order
from churns_gql.providers import base
from churns_gql.refinement_types import RefinementType
from tests.conftest import import_images, png_bytes, refine, run_worker

PACKAGE = Path(__file__).resolve().parents[1] / "churns_gql"
MAX_LINES = 400


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_one_refinement_type_enum_is_shared_by_models_and_providers() -> None:
    assert models.RefinementType is refinement_types.RefinementType is base.RefinementType
    assert not hasattr(base, "RefinementKind")
    assert [t.value for t in RefinementType] == ["SUBJECT", "TEXT", "PROMPT"]


def test_an_edit_request_carries_the_enum_whatever_the_caller_passed() -> None:
    from PIL import Image

    image = Image.new("RGB", (4, 4))
    request = base.EditRequest(kind="TEXT", image=image)  # type: ignore[arg-type]
    assert request.kind is RefinementType.TEXT and request.kind.value.lower() == "text"
    with pytest.raises(ValueError):
        base.EditRequest(kind="BLUR", image=image)  # type: ignore[arg-type]


def test_each_refinement_type_names_a_stage_that_exists(tmp_path: Path) -> None:
    stages = PACKAGE / "pipeline" / "stages"
    for kind in RefinementType:
        module = stages / f"{kind.stage}.py"
        assert module.exists(), kind
        # The stage module makes the edit of its own type, by the enum.
        assert f"RefinementType.{kind.value}" in module.read_text()
    order = load_stage_order(PACKAGE.parent / "configs" / "stage_order.yml")
    assert "conditional_stage" in order["refinement"]


def test_no_refinement_type_spelled_as_a_string_outside_the_enum_module() -> None:
    literal = re.compile(r"""["'](PROMPT|TEXT|SUBJECT)["']""")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in _sources()
        if path.name != "refinement_types.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []


def test_one_rectangle_type_and_no_rebuilding_from_mappings() -> None:
    assert base.Rect is geometry.Rect
    rect = geometry.Rect(0.1, 0.2, 0.3, 0.4)
    assert geometry.Rect.from_dict(rect.as_dict()) == rect
    rebuilt = re.compile(r"""Rect\(\*\*|\[["']x["']\]""")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in _sources()
        if path.name != "geometry.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if rebuilt.search(line)
    ]
    assert offenders == []


def test_every_module_is_at_most_400_lines() -> None:
    too_long = {
        str(p.relative_to(PACKAGE)): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}


async def test_the_mask_is_stored_and_read_back_as_rectangles(client, services) -> None:
    run = (await import_images(client, [png_bytes(80, 60)]))["run"]
    ref = (
        await refine(
            client, run["images"][0]["id"], prompt="warmer", mask=[{"x": 0.25, "y": 0.5, "width": 0.5, "height": 0.25}]
        )
    )["refinement"]
    async with services.db() as session:
        row = await session.get(models.Refinement, decode_id(ref["id"])[1])
    assert row.mask == [{"x": 0.25, "y": 0.5, "width": 0.5, "height": 0.25}]
    assert row.rects == [geometry.Rect(0.25, 0.5, 0.5, 0.25)]


def _reads_of(statements: list[str], table: str) -> int:
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT") and f"FROM {table}" in s)


async def test_a_refinement_job_reads_its_parent_once(client, services, worker_services, count_queries) -> None:
    run = (await import_images(client, [png_bytes(80, 60)]))["run"]
    first = (await refine(client, run["images"][0]["id"], prompt="warmer"))["refinement"]
    before = count_queries.count
    assert await run_worker(worker_services) == 1
    # An Image parent: one read of the images table for the whole job (load, save, refinements.json).
    image_reads = [s for s in count_queries.statements[before:] if _reads_of([s], "images")]
    assert len(image_reads) == 1, image_reads

    await refine(client, first["id"], prompt="cooler")
    before = count_queries.count
    assert await run_worker(worker_services) == 1
    job_reads = [
        s
        for s in count_queries.statements[before:]
        if s.startswith("SELECT refinements.id,") and "WHERE refinements.id =" in s and "FOR UPDATE" not in s
    ]
    # A Refinement parent: the job's own row is locked (FOR UPDATE) by the transitions and its status polled
    # between stages (the worker's startup sweep reads by status); the parent's row is read once.
    assert len(job_reads) == 1, job_reads
    async with services.db() as session:
        rows = (await session.scalars(select(models.Refinement).order_by(models.Refinement.version))).all()
    assert [r.status for r in rows] == [models.JobStatus.COMPLETED] * 2
    index = services.storage.read_index(rows[0].run_id)
    second = next(e for e in index["refinements"] if e["job_id"] == str(rows[1].id))
    assert second["parent_image_id"] == str(rows[0].id) and second["parent_image_path"] == rows[0].image_path
    assert second["summary"] == rows[1].summary and second["image_path"] == rows[1].image_path
