"""refineImage's admission on the driver (bench P5): what it sends, and the cheaper steps around it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from strawberry.types.arguments import convert_argument
from strawberry.types.field import StrawberryField

from churns_gql.config import Settings
from churns_gql.events import hub as hub_module
from churns_gql.events.hub import EventHub
from churns_gql.graphql.enums import RefinementType
from churns_gql.graphql.mutations import MaskRectInput, RefineImageInput
from churns_gql.graphql.schema import build_schema
from churns_gql.services import admission, tokens, versions
from tests.conftest import import_images, png_bytes

LEAN_REFINE = """mutation($input: RefineImageInput!) {
  refineImage(input: $input) { refinement { id version } userErrors { field message code } }
}"""


async def _refine(client: Any, parent: str) -> dict[str, Any]:
    """refineImage asking for nothing that reads more rows."""
    variables = {"input": {"parentId": parent, "type": "PROMPT", "prompt": "warmer"}}
    return (await client.data(LEAN_REFINE, variables))["refineImage"]


async def test_refine_image_is_two_statements_on_the_driver(client, count_queries, count_driver_queries):
    """Regression (bench P5): the parent read, the locks and the insert went through SQLAlchemy's ORM session
    (three statements plus BEGIN and COMMIT, each with its execution context and result): most of the request's CPU.
    Now the locks ride in BEGIN's message and the insert reads the parent itself: three round trips with COMMIT."""
    parent = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]
    through_sqlalchemy = count_queries.count
    before = count_driver_queries.count
    payload = await _refine(client, parent)
    assert payload["userErrors"] == [] and payload["refinement"]["version"] == 2
    sent = count_driver_queries.statements[before:]
    assert count_queries.statements[through_sqlalchemy:] == []
    assert len(sent) == 2, sent
    assert "pg_advisory_xact_lock" in sent[0] and "INSERT INTO refinements" in sent[1]


async def test_with_a_token_the_insert_checks_the_owner_without_another_read(
    client, services, count_queries, count_driver_queries
):
    """Regression: with tokens, refineImage read the parent and its run through the loaders first (two more reads)."""
    async with services.db() as session:
        _row, token = await tokens.create_token(session, "mine")
        _row, other = await tokens.create_token(session, "theirs")
        await session.commit()
    services.gate.forget()
    client.http.headers["Authorization"] = f"Bearer {token}"
    mine = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]
    client.http.headers["Authorization"] = f"Bearer {other}"
    theirs = (await import_images(client, [png_bytes()]))["run"]["images"][0]["id"]
    client.http.headers["Authorization"] = f"Bearer {token}"
    await _refine(client, mine)  # the token gate's cache and the statements are warm now
    before, through_sqlalchemy = count_driver_queries.count, count_queries.count
    assert (await _refine(client, mine))["userErrors"] == []
    sent = count_driver_queries.statements[before:]
    assert count_queries.statements[through_sqlalchemy:] == []
    assert len(sent) == 2 and "owner_token_id" in sent[0] and "owner_token_id" in sent[1], sent
    refused = await _refine(client, theirs)
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    client.http.headers.pop("Authorization")


async def test_the_version_lock_key_in_sql_is_the_one_python_takes(clean_db):
    """The locks statement keys the original's lock on the parent row; versions.next_version keys it in Python."""
    run_id = uuid.uuid4()
    async with clean_db.connect() as conn:
        sql = f"SELECT {versions.key_sql('x')} FROM (SELECT CAST(:r AS uuid) AS run_id, 3 AS generation_index) x"
        assert (await conn.execute(text(sql), {"r": run_id})).scalar() == versions.lock_key(run_id, 3)


def test_only_keys_and_ids_are_written_into_the_locks_statement():
    assert admission._literal(f"token:{uuid.uuid4()}").startswith("'token:")
    for bad in ("open'); DROP TABLE runs; --", "Open", "a b"):
        with pytest.raises(ValueError):
            admission._literal(bad)


def _payload(job: uuid.UUID, run: uuid.UUID) -> str:
    return json.dumps(
        {
            "id": 1,
            "job": str(job),
            "run": str(run),
            "seq": 1,
            "stage": "job",
            "status": "PENDING",
            "progress": 0,
            "message": "queued",
            "cost_usd": None,
            "preview_path": None,
            "terminal": False,
            "at": "2026-01-01T00:00:00+00:00",
        }
    )


def test_the_hub_builds_no_event_for_a_job_nobody_here_follows(monkeypatch):
    """Regression (bench P5): every notification became an ORM StageEvent, with or without a subscriber."""
    built: list[dict[str, Any]] = []
    real = hub_module.event_from_payload
    monkeypatch.setattr(hub_module, "event_from_payload", lambda data: built.append(data) or real(data))
    hub = EventHub("postgresql://unused", None)  # type: ignore[arg-type]
    job, run = uuid.uuid4(), uuid.uuid4()
    hub._on_notify(None, 0, "churns_events", _payload(job, run))
    assert built == []
    sub = hub.subscribe(run_id=run)
    hub._on_notify(None, 0, "churns_events", _payload(job, run))
    assert len(built) == 1 and sub.pending() == 1


def _generic(value: dict[str, Any], registry: Any, config: Any) -> Any:
    """Strawberry's own conversion of a RefineImageInput value, without the prebuilt hooks."""
    definitions = [RefineImageInput.__strawberry_definition__, MaskRectInput.__strawberry_definition__]  # type: ignore[attr-defined]
    hooks = [d.from_input for d in definitions]
    for definition in definitions:
        definition.from_input = None
    try:
        return convert_argument(value, RefineImageInput, registry, config)
    finally:
        for definition, hook in zip(definitions, hooks, strict=True):
            definition.from_input = hook


@pytest.mark.parametrize(
    "value",
    [
        {"parentId": "SW1hZ2U6eA==", "type": RefinementType.PROMPT, "prompt": "warmer", "creativityLevel": 2},
        {
            "parentId": "x",
            "type": RefinementType.PROMPT,
            "prompt": None,
            "mask": [{"x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4}],
            "creativityLevel": None,
            "referenceImage": None,
        },
        {"parentId": "x", "type": RefinementType.TEXT, "instructions": "fix 'SALE'"},
    ],
)
def test_a_prebuilt_input_is_what_strawberry_builds(value, monkeypatch):
    """Regression (bench P5): Strawberry resolved each input field's type on every request; the prebuilt input
    plans that once and builds the same object."""
    schema = build_schema(Settings.defaults())
    registry, config = schema.schema_converter.scalar_registry, schema.config
    expected = _generic(value, registry, config)
    assert convert_argument(value, RefineImageInput, registry, config) == expected
    resolved = []
    real = StrawberryField.resolve_type
    monkeypatch.setattr(StrawberryField, "resolve_type", lambda self, **kw: resolved.append(self) or real(self, **kw))
    assert convert_argument(value, RefineImageInput, registry, config) == expected
    assert resolved == []
