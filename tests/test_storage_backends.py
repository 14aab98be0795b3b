"""The storage contract, run against both backends: the local folder and S3 (moto's server on loopback)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from churns_gql.blob_store import LocalBlobStore, open_store
from churns_gql.blob_store_s3 import S3BlobStore
from churns_gql.storage import RunStorage
from tests.conftest import index_entry


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> RunStorage:
    """A RunStorage on each backend, as CHURNS_STORAGE_URL would choose it."""
    if request.param == "local":
        return RunStorage.from_url(f"file://{tmp_path / 'data'}", tmp_path / "unused")
    return RunStorage.from_url(request.getfixturevalue("s3_url"), tmp_path / "unused")


async def test_written_bytes_read_back_and_overwrite_whole(storage):
    run_id = uuid.uuid4()
    await storage.write_bytes(run_id, "refinements/a.png", b"first")
    await storage.write_bytes(run_id, "refinements/a.png", b"second, longer")
    assert await storage.read_bytes(run_id, "refinements/a.png") == b"second, longer"
    assert await storage.exists(run_id, "refinements/a.png")
    assert not await storage.exists(run_id, "refinements/b.png")
    with pytest.raises(FileNotFoundError):
        await storage.read_bytes(run_id, "refinements/b.png")


async def test_json_round_trips_and_a_missing_or_broken_file_reads_as_none(storage):
    run_id = uuid.uuid4()
    await storage.write_json(run_id, "pipeline_metadata.json", {"é": [1, 2]})
    assert await storage.read_json(run_id, "pipeline_metadata.json") == {"é": [1, 2]}
    assert await storage.read_json(run_id, "missing.json") is None
    await storage.write_bytes(run_id, "broken.json", b"{not json")
    assert await storage.read_json(run_id, "broken.json") is None


async def test_listing_sizes_and_deleting(storage):
    run_id, other = uuid.uuid4(), uuid.uuid4()
    await storage.write_bytes(run_id, "refinements/x.png", b"12345")
    await storage.write_bytes(run_id, "refinements/previews/y.png", b"123")
    await storage.write_bytes(other, "refinements/z.png", b"1")
    listed = {i.key: i.size for i in await storage.list_files(run_id, "refinements")}
    assert listed == {"refinements/x.png": 5, "refinements/previews/y.png": 3}
    assert await asyncio.to_thread(storage.runs_size, [run_id, other]) == 9
    assert set(await storage.run_folders()) == {str(run_id), str(other)}
    await storage.delete(run_id, "refinements/x.png")
    await storage.delete(run_id, "refinements/never-there.png")
    assert [i.key for i in await storage.list_files(run_id, "refinements")] == ["refinements/previews/y.png"]
    await storage.remove_run_dir(run_id)
    assert await storage.list_files(run_id, "") == [] and set(await storage.run_folders()) == {str(other)}


async def test_a_run_folder_is_created_once(storage):
    run_id = uuid.uuid4()
    await storage.create_run_dir(run_id, {"originals/image_0.png": b"x", "pipeline_metadata.json": b"{}"})
    assert await storage.read_bytes(run_id, "originals/image_0.png") == b"x"
    with pytest.raises(FileExistsError):
        await storage.create_run_dir(run_id, {"a": b"y"})
    assert not await storage.exists(run_id, "a")


async def test_the_index_records_replaces_and_drops_entries(storage):
    run_id = uuid.uuid4()
    await storage.record_refinement(run_id, index_entry("a", 1.0))
    await storage.update_index(run_id, [index_entry("b"), index_entry("a", 2.0), index_entry("c")], set())
    index = await storage.drop_index_entries(run_id, {"c"})
    assert [e["job_id"] for e in index["refinements"]] == ["b", "a"]
    assert index["total_cost"] == 2.5 and index["total_refinements"] == 2
    assert json.loads(await storage.read_bytes(run_id, "refinements.json")) == index == await storage.load_index(run_id)
    assert (await storage.load_index(uuid.uuid4()))["refinements"] == []


async def test_public_keys_stay_inside_a_run_folder(storage):
    run_id = uuid.uuid4()
    assert storage.public_key(f"runs/{run_id}/originals/image_0.png") == f"runs/{run_id}/originals/image_0.png"
    for bad in [
        "",
        "/etc/passwd",
        f"runs/{run_id}",
        f"runs/{run_id}/../x/a.png",
        f"runs/{run_id}/.thumbs/a.webp",
        "runs/not-a-uuid/a.png",
        f"other/{run_id}/a.png",
        f"runs/{run_id}/a\x00.png",
    ]:
        assert storage.public_key(bad) is None, bad


async def test_local_storage_keeps_the_data_runs_layout(tmp_path):
    storage = RunStorage(tmp_path)
    run_id = uuid.uuid4()
    await storage.write_bytes(run_id, "originals/image_0.png", b"x")
    assert (tmp_path / "runs" / str(run_id) / "originals" / "image_0.png").read_bytes() == b"x"
    assert (
        storage.path(run_id, "originals/image_0.png") == tmp_path / "runs" / str(run_id) / "originals" / "image_0.png"
    )


def test_the_storage_url_chooses_the_backend(tmp_path, s3_url):
    assert isinstance(open_store("", tmp_path), LocalBlobStore) and open_store("", tmp_path).root == tmp_path
    assert open_store(f"file://{tmp_path}/x", "ignored").root == tmp_path / "x"  # type: ignore[attr-defined]
    assert open_store("file://rel/data", "ignored").root == Path("rel/data")  # type: ignore[attr-defined]
    assert open_store("file://", tmp_path).root == tmp_path  # type: ignore[attr-defined]
    assert isinstance(open_store(s3_url, tmp_path), S3BlobStore)
    for bad in ["ftp://host/x", "s3://", "gs://bucket"]:
        with pytest.raises(ValueError):
            open_store(bad, tmp_path)


async def test_s3_objects_sit_under_the_url_prefix(s3_url, moto_endpoint, tmp_path):
    import httpx

    storage = RunStorage.from_url(s3_url, tmp_path)
    run_id = uuid.uuid4()
    await storage.write_bytes(run_id, "originals/image_0.png", b"png")
    bucket = s3_url.removeprefix("s3://").split("/")[0]
    whole_bucket = S3BlobStore.from_url(f"s3://{bucket}")
    assert whole_bucket.read(f"churns/runs/{run_id}/originals/image_0.png") == b"png"
    async with httpx.AsyncClient() as http:  # the emulation checks credentials: an anonymous read is refused
        raw = await http.get(f"{moto_endpoint}/{bucket}/churns/runs/{run_id}/originals/image_0.png")
    assert raw.status_code == 403


async def test_an_opened_file_is_sent_as_the_version_opened(storage):
    # /files sends refinements.json while workers rewrite it: size and bytes must be of one version.
    run_id = uuid.uuid4()
    await storage.write_bytes(run_id, "refinements.json", b"short")
    opened = await storage.store.open(storage.key(run_id, "refinements.json"))
    await storage.write_bytes(run_id, "refinements.json", b"a longer version written meanwhile")
    body = b"".join([chunk async for chunk in opened.chunks])
    await opened.close()
    assert opened.info.size == len(body) == 5 and body == b"short"
    assert await storage.store.open(storage.key(run_id, "missing.json")) is None


async def test_a_usable_store_probes_clean_and_an_unusable_one_says_why(storage, tmp_path):
    assert await storage.unreachable() is None
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert "not a writable folder" in (await RunStorage(blocker / "data").unreachable() or "")
