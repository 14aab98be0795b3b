"""refinements.json encoding: byte-identical to json.dumps(indent=2), and a kept version never hides another writer's."""

from __future__ import annotations

import json
import uuid

import pytest

from churns_gql import index_file
from churns_gql.storage import RunStorage
from tests.conftest import index_entry


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [index_entry("a").as_dict()],
        [
            index_entry("a", 0.1).as_dict(),
            index_entry("b", 1e-7, None).as_dict(),
            index_entry("c", 3, 'Texte « é » \n"q"').as_dict(),
        ],
        [{"job_id": "legacy", "cost": None, "extra": {"nested": [1, {"x": []}], "empty": {}}}],
    ],
)
def test_the_bytes_are_json_dumps_indent_2(entries):
    index = {
        "refinements": entries,
        "total_cost": round(sum(float(e.get("cost") or 0) for e in entries), 6),
        "total_refinements": len(entries),
    }
    assert index_file.build(entries).data == json.dumps(index, indent=2).encode()


async def test_an_unchanged_file_is_not_parsed_again(tmp_path, monkeypatch):
    storage, run_id = RunStorage(tmp_path), uuid.uuid4()
    await storage.record_refinement(run_id, index_entry("a"))
    parsed: list[bytes] = []
    real_parse = index_file.parse
    monkeypatch.setattr(index_file, "parse", lambda data: parsed.append(data) or real_parse(data))
    await storage.record_refinement(run_id, index_entry("b"))
    await storage.record_refinement(run_id, index_entry("a", 2.0))
    assert parsed == []
    index = storage.read_index(run_id)
    assert [e["job_id"] for e in index["refinements"]] == ["b", "a"] and index["total_cost"] == 2.5


@pytest.mark.parametrize("backend", ["local", "s3"])
async def test_another_writers_version_is_read_not_overwritten(backend, tmp_path, request):
    url = f"file://{tmp_path}" if backend == "local" else request.getfixturevalue("s3_url")
    ours, theirs, run_id = RunStorage.from_url(url, tmp_path), RunStorage.from_url(url, tmp_path), uuid.uuid4()
    await ours.record_refinement(run_id, index_entry("a"))
    await theirs.record_refinement(run_id, index_entry("b"))  # another machine, between two of our writes
    await ours.record_refinement(run_id, index_entry("c"))
    assert [e["job_id"] for e in ours.read_index(run_id)["refinements"]] == ["a", "b", "c"]
    await theirs.drop_index_entries(run_id, {"a"})
    await ours.record_refinement(run_id, index_entry("d"))
    assert [e["job_id"] for e in theirs.read_index(run_id)["refinements"]] == ["b", "c", "d"]


def test_the_cache_keeps_only_recent_runs():
    cache = index_file.IndexCache()
    for i in range(index_file.CACHED_RUNS + 5):
        cache.keep(str(i), index_file.build([]))
    assert len(cache._runs) == index_file.CACHED_RUNS and "0" not in cache._runs
