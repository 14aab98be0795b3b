"""docs/architecture.md matches the code: every module, function and stage it names exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml

from churns_gql.refinement_types import RefinementType

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_every_file_it_names_exists() -> None:
    paths = set(re.findall(r"\b((?:[a-z_]+/)+[a-z_]+\.py)\b", DOC)) | set(re.findall(r"`([a-z_]+\.py)`", DOC))
    assert paths
    missing = [p for p in paths if not any((base / p).exists() for base in (ROOT, ROOT / "churns_gql"))]
    assert missing == []


def test_every_module_function_it_names_exists() -> None:
    # `services/refinements.create_refinement`, `events.follow_job`, `queue.JobQueue.enqueue` ...
    refs = set(re.findall(r"\b((?:[a-z_]+/)*[a-z_]+)\.([A-Za-z_]+(?:\.[A-Za-z_]+)?)\b", DOC))
    checked = 0
    for module_path, attribute in refs:
        name = "churns_gql." + module_path.replace("/", ".")
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue  # not a module of ours (e.g. a file name such as stage_order.yml)
        target = module
        for part in attribute.split("."):
            if part in ("py", "md", "yml", "json", "png"):
                break
            assert hasattr(target, part), f"{name}.{attribute}"
            target = getattr(target, part)
        checked += 1
    assert checked >= 10


def test_the_stages_it_names_are_the_configured_ones() -> None:
    order = yaml.safe_load((ROOT / "configs" / "stage_order.yml").read_text())
    for stage in order["refinement"]:
        if stage != "conditional_stage":
            assert stage in DOC
    for kind in RefinementType:
        assert kind.stage in DOC
    for step in ("refineImage", "queue", "worker", "stages", "events", "subscription"):
        assert step in DOC
