"""Regression tests for the probe's input and edge findings: bad text, cursors, headers, symlinks, thin masks."""

from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import func, select

from churns_gql.models import Refinement, Run
from tests.conftest import IMPORT_RUN, REFINE, import_images, png_bytes, refine

RUNS_AFTER = "query($after: String) { runs(first: 5, after: $after) { totalCount } }"


async def _counts(services) -> tuple[int, int, list[str]]:
    async with services.db() as session:
        runs = await session.scalar(select(func.count()).select_from(Run))
        refs = await session.scalar(select(func.count()).select_from(Refinement))
    files = (
        sorted(
            str(p.relative_to(services.storage.runs_dir)) for p in services.storage.runs_dir.rglob("*") if p.is_file()
        )
        if services.storage.runs_dir.exists()
        else []
    )
    return runs, refs, files


@pytest.mark.parametrize("prompt", ["bad\x00byte", "lone \ud800 surrogate"], ids=["nul", "surrogate"])
async def test_import_with_unstorable_text_is_invalid_and_writes_nothing(client, services, prompt):
    before = await _counts(services)
    variables = {"input": {"images": [None], "prompt": prompt}}
    body = (await client.upload(IMPORT_RUN, variables, {"input.images.0": ("a.png", png_bytes(), "image/png")})).json()
    assert not body.get("errors"), body
    errors = body["data"]["importRun"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "prompt"], "INVALID")]
    assert await _counts(services) == before


async def test_import_with_a_nul_inside_metadata_is_invalid(client, services):
    variables = {"input": {"images": [None], "metadata": {"concepts": [{"text": "a\x00b"}]}}}
    body = (await client.upload(IMPORT_RUN, variables, {"input.images.0": ("a.png", png_bytes(), "image/png")})).json()
    errors = body["data"]["importRun"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "metadata"], "INVALID")]
    assert await _counts(services) == (0, 0, [])


async def test_subject_with_a_reference_and_a_nul_leaves_no_orphan_reference(client, services):
    parent = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]
    before = await _counts(services)
    variables = {"input": {"parentId": parent, "type": "SUBJECT", "instructions": "x\x00y", "referenceImage": None}}
    body = (
        await client.upload(REFINE, variables, {"input.referenceImage": ("r.png", png_bytes(), "image/png")})
    ).json()
    assert not body.get("errors"), body
    errors = body["data"]["refineImage"]["userErrors"]
    assert ("INVALID", ["input", "instructions"]) in [(e["code"], e["field"]) for e in errors]
    assert await _counts(services) == before


async def test_a_hair_thin_mask_rectangle_is_refused_at_validation(client, services):
    parent = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]
    payload = await refine(client, parent, prompt="warmer", mask=[{"x": 0.1, "y": 0.1, "width": 1e-9, "height": 0.5}])
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "mask", "0", "width"], "INVALID")]
    assert payload["refinement"] is None


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00", "9999-12-31T23:59:59-12:00"])
async def test_foreign_cursors_are_coded_bad_user_input(client, moment):
    cursor = base64.urlsafe_b64encode(f"{moment}|00000000-0000-0000-0000-000000000000".encode()).decode()
    body = await client.execute(RUNS_AFTER, {"after": cursor})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Unexpected error" not in body["errors"][0]["message"]


async def test_files_are_private_to_caches(client):
    url = (await import_images(client, [png_bytes()]))["run"]["images"][0]["url"]
    response = await client.http.get(url)
    assert response.status_code == 200 and response.headers["cache-control"].startswith("private")


async def test_a_symlink_into_another_run_is_not_served(client, services):
    first = (await import_images(client, [png_bytes()]))["run"]
    second = (await import_images(client, [png_bytes()]))["run"]
    target = services.storage.data_dir / first["images"][0]["url"].removeprefix("/files/")
    second_url = second["images"][0]["url"]
    second_file = services.storage.data_dir / second_url.removeprefix("/files/")
    assert target.is_file() and second_file.is_file()
    os.symlink(target, second_file.parent / "stolen.png")
    stolen_url = second_url.rsplit("/", 1)[0] + "/stolen.png"
    assert (await client.http.get(stolen_url)).status_code == 404
    assert (await client.http.get(first["images"][0]["url"])).status_code == 200


async def test_pages_carry_csp_frame_ancestors_and_referrer_policy(client):
    for path, accept in (("/", "text/html"), ("/graphql", "text/html")):
        response = await client.http.get(path, headers={"accept": accept})
        assert response.status_code == 200
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "same-origin"
