"""Relay paging both ways (issue 15, item 4): first/after and last/before on every connection, cursors typed per
connection, and global ids unchanged now that the types are strawberry.relay Nodes."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from churns_gql.graphql.cost import selection_cost
from churns_gql.models import JobStatus, Refinement, RefinementType, Run
from churns_gql.services import tokens
from tests.conftest import import_images, png_bytes

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Ten rows over seven moments: the ties make the id the order's second key.
MOMENTS = [0, 1, 1, 1, 2, 3, 4, 4, 5, 6]

RUNS = """query($first: Int, $after: String, $last: Int, $before: String) {
  runs(first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
REFINEMENTS = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { run(id: $id) {
  refinements(first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""


def legacy_id(type_name: str, raw_id: uuid.UUID) -> str:
    """A global id exactly as the hand-written encoder before strawberry.relay made it."""
    return base64.b64encode(f"{type_name}:{raw_id}".encode()).decode()


async def _runs(services) -> list[str]:
    """Ten runs with tied creation times; their ids newest first, the order `runs` lists them in."""
    rows = [Run(id=uuid.uuid4(), status=JobStatus.COMPLETED, created_at=T0 + timedelta(minutes=m)) for m in MOMENTS]
    async with services.db() as session:
        session.add_all(rows)
        await session.commit()
    rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return [legacy_id("Run", r.id) for r in rows]


async def _refinements(client, services) -> tuple[str, list[str]]:
    """A run with ten refinements with tied creation times; the run's id and theirs oldest first."""
    run = (await import_images(client, [png_bytes()]))["run"]
    run_id = uuid.UUID(base64.b64decode(run["id"]).decode().split(":")[1])
    image_id = uuid.UUID(base64.b64decode(run["images"][0]["id"]).decode().split(":")[1])
    rows = [
        Refinement(
            id=uuid.uuid4(),
            run_id=run_id,
            generation_index=0,
            version=2 + i,
            type=RefinementType.PROMPT,
            status=JobStatus.COMPLETED,
            prompt="p",
            creativity_level=2,
            parent_image_id=image_id,
            created_at=T0 + timedelta(minutes=m),
        )
        for i, m in enumerate(MOMENTS)
    ]
    async with services.db() as session:
        session.add_all(rows)
        await session.commit()
    rows.sort(key=lambda r: (r.created_at, r.id))
    return run["id"], [legacy_id("Refinement", r.id) for r in rows]


def _connection(data: dict) -> dict:
    return data["runs"] if "runs" in data else data["run"]["refinements"]


async def _page(client, query: str, extra: dict, **args) -> dict:
    return _connection(await client.data(query, {**extra, **args}))


def _ids(page: dict) -> list[str]:
    return [e["node"]["id"] for e in page["edges"]]


def _flags(page: dict) -> tuple[bool, bool]:
    return page["pageInfo"]["hasPreviousPage"], page["pageInfo"]["hasNextPage"]


async def _walk_both_ways(client, query: str, extra: dict, expected: list[str]) -> None:
    """Forward with first/after and backward with last/before give the same items, order and Relay flags."""
    forward, after = [], None
    while True:
        page = await _page(client, query, extra, first=3, after=after)
        assert page["totalCount"] == len(expected)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        forward.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [_ids(p) for p in forward] == [expected[0:3], expected[3:6], expected[6:9], expected[9:]]
    assert [_flags(p) for p in forward] == [(False, True), (True, True), (True, True), (True, False)]

    backward, before = [], None
    while True:
        page = await _page(client, query, extra, last=3, before=before)
        backward.append(page)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert [_ids(p) for p in backward] == [expected[7:], expected[4:7], expected[1:4], expected[:1]]
    assert [_flags(p) for p in backward] == [(True, False), (True, True), (True, True), (False, True)]

    # Turning round: back from the second forward page is exactly the first one; an edge's cursor works too.
    back = await _page(client, query, extra, last=3, before=forward[1]["pageInfo"]["startCursor"])
    assert _ids(back) == expected[:3] and _flags(back) == (False, True)
    ahead = await _page(client, query, extra, first=2, after=forward[0]["edges"][1]["cursor"])
    assert _ids(ahead) == expected[2:4]
    # Both cursors: the items strictly between them, from either end.
    between = {"after": forward[0]["edges"][0]["cursor"], "before": forward[1]["edges"][2]["cursor"]}
    assert _ids(await _page(client, query, extra, first=10, **between)) == expected[1:5]
    assert _ids(await _page(client, query, extra, last=2, **between)) == expected[3:5]
    # `before` alone pages backward from it; `last` alone is the end of the list.
    assert _ids(await _page(client, query, extra, before=forward[3]["edges"][0]["cursor"])) == expected[:9]
    assert _ids(await _page(client, query, extra, last=4)) == expected[6:]
    empty = await _page(client, query, extra, last=0)
    assert empty["edges"] == [] and empty["pageInfo"]["startCursor"] is None and _flags(empty)[0]


async def test_runs_page_both_ways(client, services):
    await _walk_both_ways(client, RUNS, {}, await _runs(services))


async def test_run_refinements_page_both_ways(client, services):
    run_id, expected = await _refinements(client, services)
    await _walk_both_ways(client, REFINEMENTS, {"id": run_id}, expected)


async def test_pages_are_bounded_in_sql(client, services, count_queries):
    await _runs(services)
    before = count_queries.count
    end = await _page(client, RUNS, {}, last=3)
    page_sql = [s for s in count_queries.statements[before:] if "ORDER BY" in s]
    # Read oldest first from the end (the list is newest first), at most the page and one more.
    assert len(page_sql) == 1 and "LIMIT" in page_sql[0] and "DESC" not in page_sql[0].upper()
    for args in (
        {"first": 3, "after": end["pageInfo"]["startCursor"]},
        {"last": 3, "before": end["pageInfo"]["startCursor"]},
    ):
        before = count_queries.count
        await _page(client, RUNS, {}, **args)
        statements = count_queries.statements[before:]
        # A page and its far-side probe: two statements, each comparing the (created_at, id) row, which
        # bounds the index scan (`a < x OR (a = x AND b < y)` only filtered the rows the scan walked past).
        assert len(statements) == 2
        assert all("(runs.created_at, runs.id) " in s for s in statements), statements


async def _error(client, query: str, variables: dict) -> dict:
    body = await client.execute(query, variables)
    # The connection is non-null, so the error nulls its parent: `run`, or the whole data for `runs`.
    assert body.get("data") is None or body["data"] == {"run": None}, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "Unexpected error" not in error["message"]
    return error


async def test_a_cursor_of_one_connection_is_refused_by_another(client, services):
    await _runs(services)
    run_id, _ = await _refinements(client, services)
    other_run, _ = await _refinements(client, services)
    run_cursor = (await _page(client, RUNS, {}, first=1))["pageInfo"]["endCursor"]
    ref_cursor = (await _page(client, REFINEMENTS, {"id": run_id}, first=1))["pageInfo"]["endCursor"]
    for name in ("after", "before"):
        error = await _error(client, REFINEMENTS, {"id": run_id, name: run_cursor})
        assert error["message"].startswith(f"{name} is not a cursor of this RefinementConnection")
        await _error(client, RUNS, {name: ref_cursor})
        # Another run's refinements are another connection: its cursor is no position here.
        await _error(client, REFINEMENTS, {"id": other_run, name: ref_cursor})
    # A global id is no cursor either, though it has the same shape.
    await _error(client, RUNS, {"after": run_id})


def _tampered(cursor: str) -> list[str]:
    kind, payload = base64.b64decode(cursor).decode().split(":", 1)
    moment, raw = payload.split("|")
    return [
        cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1],  # one character off
        cursor + "!",  # not base64
        base64.b64encode(f"{kind}:{moment}|not-a-uuid".encode()).decode(),
        base64.b64encode(f"{kind}:2026-01-01T00:00:00|{raw}".encode()).decode(),  # naive time
        base64.b64encode(f"{kind}:{payload}".encode()).decode().rstrip("="),  # padding dropped
        # The untyped cursor the API issued before cursors named their connection.
        base64.urlsafe_b64encode(payload.encode()).decode(),
    ]


@pytest.mark.parametrize(
    "args",
    [{"first": 2, "last": 2}, {"last": -1}, {"last": 101}, {"first": -1}, {"first": 101}],
    ids=["first-and-last", "last-negative", "last-too-large", "first-negative", "first-too-large"],
)
async def test_bad_page_arguments_are_bad_user_input(client, services, args):
    await _error(client, RUNS, args)


async def test_tampered_cursors_are_bad_user_input(client, services):
    await _runs(services)
    cursor = (await _page(client, RUNS, {}, first=1))["pageInfo"]["endCursor"]
    for bad in _tampered(cursor):
        for name in ("after", "before"):
            await _error(client, RUNS, {name: bad})


async def test_ids_are_unchanged_and_refetch_through_node(client, services, live_server):
    payload = await import_images(client, [png_bytes()])
    run = payload["run"]
    async with services.db() as session:
        row = await session.get(Run, uuid.UUID(base64.b64decode(run["id"]).decode()[4:]))
        image = run["images"][0]
    assert run["id"] == legacy_id("Run", row.id)
    ref = (
        await client.data(
            'mutation($p: ID!) { refineImage(input: {parentId: $p, type: PROMPT, prompt: "warmer"}) { refinement { id } } }',
            {"p": image["id"]},
        )
    )["refineImage"]["refinement"]
    ref_uuid = uuid.UUID(base64.b64decode(ref["id"]).decode().split(":")[1])
    assert ref["id"] == legacy_id("Refinement", ref_uuid)
    data = await client.data(
        """query($r: ID!, $i: ID!, $f: ID!) {
        r: node(id: $r) { __typename id } i: node(id: $i) { __typename id ... on Image { run { id } } }
        f: node(id: $f) { __typename id ... on Refinement { parent { id } events { jobId } } } }""",
        {"r": run["id"], "i": image["id"], "f": ref["id"]},
    )
    assert data["r"] == {"__typename": "Run", "id": run["id"]}
    assert data["i"] == {"__typename": "Image", "id": image["id"], "run": {"id": run["id"]}}
    assert data["f"]["id"] == ref["id"] and data["f"]["parent"] == {"id": image["id"]}
    assert {e["jobId"] for e in data["f"]["events"]} == {ref["id"]}
    # An id stored by a client long ago (a fixed value) still finds its object's type.
    assert legacy_id("Run", uuid.UUID(int=1)) == "UnVuOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMQ=="


async def test_backward_paging_and_node_honour_ownership(client, services):
    await client.execute("{ __typename }")
    visible = await _runs(services)  # made without a token: only an open API shows them
    async with services.db() as session:
        _row, token = await tokens.create_token(session, "alice")
        await session.commit()
    services.gate.forget()
    headers = {"Authorization": f"Bearer {token}"}
    for operation, variables in ((RUNS, {"last": 5}), ("query($id: ID!) { node(id: $id) { id } }", {"id": visible[0]})):
        response = await client.http.post(
            "/graphql", headers=headers, json={"query": operation, "variables": variables}
        )
        body = response.json()
        assert not body.get("errors"), json.dumps(body)
        if "runs" in body["data"]:
            assert body["data"]["runs"]["edges"] == [] and body["data"]["runs"]["totalCount"] == 0
        else:
            assert body["data"]["node"] is None


def test_last_costs_like_first():
    from graphql import parse

    def cost(query: str) -> int:
        return selection_cost(parse(query).definitions[0].selection_set, {})

    assert cost("{ runs(last: 50) { edges { node { id } } } }") == cost("{ runs(first: 50) { edges { node { id } } } }")
    assert cost("query($n: Int) { runs(last: $n) { totalCount } }") == 1 + 100 * 10
    assert cost("{ runs(last: 5) { totalCount } }") < cost("{ runs(last: 100) { totalCount } }")
