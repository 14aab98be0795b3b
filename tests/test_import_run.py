"""importRun: the happy path, every bad-input code, and that a refused import writes nothing."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from churns_gql.models import Image, Run
from tests.conftest import IMPORT_RUN, import_images, jpeg_bytes, png_bytes


async def _counts(services) -> tuple[int, int]:
    async with services.db() as session:
        runs = await session.scalar(select(func.count()).select_from(Run))
        images = await session.scalar(select(func.count()).select_from(Image))
    return runs, images


def _run_dirs(services) -> list[str]:
    runs_dir = services.storage.runs_dir
    return sorted(p.name for p in runs_dir.iterdir()) if runs_dir.exists() else []


async def test_import_two_pngs_and_a_jpeg(client, services):
    payload = await import_images(
        client,
        [png_bytes(64, 48), png_bytes(30, 20, (0, 0, 0, 128), "RGBA"), jpeg_bytes(50, 40)],
        prompt="summer sale",
        metadata={"processing_context": {"note": "x"}},
    )
    assert payload["userErrors"] == []
    run = payload["run"]
    assert run["status"] == "COMPLETED"
    assert run["prompt"] == "summer sale"
    assert run["metadata"] == {"processing_context": {"note": "x"}}
    images = run["images"]
    assert [i["generationIndex"] for i in images] == [0, 1, 2]
    assert [(i["width"], i["height"]) for i in images] == [(64, 48), (30, 20), (50, 40)]
    assert all(i["version"] == 1 and i["children"] == [] for i in images)
    assert images[2]["path"] == "originals/image_2.png"
    # Every original is stored as PNG whatever came in; alpha kept where there was some.
    for image, mode in zip(images, ["RGB", "RGBA", "RGB"], strict=True):
        response = await client.http.get(image["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        decoded = PILImage.open(io.BytesIO(response.content))
        assert decoded.format == "PNG" and decoded.mode == mode
        assert decoded.size == (image["width"], image["height"])
    assert await _counts(services) == (1, 3)


BAD_FILES = {
    "not an image": (b"hello, this is text", "UNSUPPORTED_FORMAT"),
    "html named png": (b"<!doctype html><html><body>x</body></html>", "UNSUPPORTED_FORMAT"),
    "svg named png": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "UNSUPPORTED_FORMAT"),
    "gif": (b"GIF89a" + b"\x00" * 30, "UNSUPPORTED_FORMAT"),
    "truncated png": (png_bytes(200, 200)[:60], "INVALID"),
    "empty": (b"", "INVALID"),
}


def _zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.png", png_bytes())
    return out.getvalue()


@pytest.mark.parametrize("name", [*BAD_FILES, "zip"])
async def test_bad_file_is_refused_and_nothing_written(client, services, name):
    data, code = BAD_FILES[name] if name in BAD_FILES else (_zip_bytes(), "UNSUPPORTED_FORMAT")
    variables = {"input": {"images": [None, None]}}
    files = {"input.images.0": ("good.png", png_bytes(), "image/png"), "input.images.1": ("bad.png", data, "image/png")}
    body = (await client.upload(IMPORT_RUN, variables, files)).json()
    payload = body["data"]["importRun"]
    assert payload["run"] is None
    assert payload["userErrors"] == [
        {"field": ["input", "images", "1"], "message": payload["userErrors"][0]["message"], "code": code}
    ]
    assert "image 1" in payload["userErrors"][0]["message"]
    assert await _counts(services) == (0, 0)
    assert _run_dirs(services) == []


async def test_too_many_bytes_is_too_large(client, services):
    services.settings = services.settings.with_changes(max_upload_mb=1)
    noisy = PILImage.effect_noise((1200, 1200), 100).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, format="PNG")
    assert len(out.getvalue()) > 1024 * 1024
    files = {"input.images.0": ("big.png", out.getvalue(), "image/png")}
    body = (await client.upload(IMPORT_RUN, {"input": {"images": [None]}}, files)).json()
    (error,) = body["data"]["importRun"]["userErrors"]
    assert error["code"] == "TOO_LARGE" and error["field"] == ["input", "images", "0"]
    assert await _counts(services) == (0, 0) and _run_dirs(services) == []


async def test_too_many_pixels_is_refused_before_decoding(client, services):
    services.settings = services.settings.with_changes(max_pixels=10_000)
    files = {"input.images.0": ("wide.png", png_bytes(200, 100), "image/png")}
    body = (await client.upload(IMPORT_RUN, {"input": {"images": [None]}}, files)).json()
    (error,) = body["data"]["importRun"]["userErrors"]
    assert error["code"] == "TOO_LARGE" and "20,000 pixels" in error["message"]
    assert await _counts(services) == (0, 0)


@pytest.mark.parametrize("count", [0, 17])
async def test_image_count_outside_1_to_16_is_invalid(client, services, count):
    variables = {"input": {"images": [None] * count}}
    files = {f"input.images.{i}": (f"{i}.png", png_bytes(8, 8), "image/png") for i in range(count)}
    if count == 0:
        body = await client.execute(IMPORT_RUN, {"input": {"images": []}})
    else:
        body = (await client.upload(IMPORT_RUN, variables, files)).json()
    (error,) = body["data"]["importRun"]["userErrors"]
    assert error == {"field": ["input", "images"], "message": error["message"], "code": "INVALID"}
    assert await _counts(services) == (0, 0) and _run_dirs(services) == []


async def test_metadata_must_be_an_object(client, services):
    files = {"input.images.0": ("a.png", png_bytes(), "image/png")}
    body = (await client.upload(IMPORT_RUN, {"input": {"images": [None], "metadata": [1, 2]}}, files)).json()
    (error,) = body["data"]["importRun"]["userErrors"]
    assert error["field"] == ["input", "metadata"] and error["code"] == "INVALID"
    assert await _counts(services) == (0, 0)


async def test_multipart_without_preflight_header_is_refused(client, services):
    files = {"input.images.0": ("a.png", png_bytes(), "image/png")}
    response = await client.upload(IMPORT_RUN, {"input": {"images": [None]}}, files, preflight=False)
    assert response.status_code == 400
    assert "Apollo-Require-Preflight" in response.text
    assert await _counts(services) == (0, 0)


async def test_metadata_file_is_written(client, services):
    payload = await import_images(client, [png_bytes()], metadata={"a": [1, 2, 3]})
    run_dirs = _run_dirs(services)
    assert len(run_dirs) == 1
    stored = json.loads((services.storage.runs_dir / run_dirs[0] / "pipeline_metadata.json").read_text())
    assert stored == {"a": [1, 2, 3]}
    assert payload["run"]["metadata"] == stored
