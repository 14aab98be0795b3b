"""Tree lists completed by a plan (graphql/tree_exec.py) answer exactly what graphql-core's own execution does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from churns_gql.graphql import types as gql_types
from churns_gql.graphql.context import Context
from churns_gql.graphql.fanout import FanoutExecutionContext
from churns_gql.graphql.ids import decode_id
from churns_gql.graphql.schema import build_schema
from churns_gql.graphql.tree_exec import TreeExecutionContext
from churns_gql.models import JobStatus, Refinement, RefinementType
from tests.conftest import import_images, png_bytes

QUERY = """
fragment Leaf on ImageVersion { __typename id version url width }
fragment Node on Refinement {
  ...Leaf
  kind: type status prompt instructions summary depth createdAt completedAt costUsd errorMessage
  mask { x y width height }
  creativityLevel referenceImageUrl
}
query($id: ID!, $deep: Boolean!) {
  run(id: $id) {
    images {
      id
      children {
        ...Node
        parent { id version }
        again: children { id }
        children {
          ...Node
          children @include(if: $deep) { ...Node ancestors { __typename id version } stages { name } }
          children @skip(if: $deep) { id }
        }
      }
    }
  }
}
"""


async def _tree(services, client) -> str:
    """Two images; under the first a 4-ary tree three levels deep with every kind of column filled or not."""
    run = (await import_images(client, [png_bytes(20, 10), png_bytes(20, 10)]))["run"]
    run_id, image_id = decode_id(run["id"])[1], decode_id(run["images"][0]["id"])[1]
    base = datetime.now(UTC) - timedelta(hours=1)
    ids = [uuid.uuid4() for _ in range(22)]
    rows = []
    for i in range(1, 22):
        done = i % 3 != 0
        rows.append(
            dict(
                id=ids[i],
                run_id=run_id,
                generation_index=0,
                version=i + 1,
                type=[RefinementType.PROMPT, RefinementType.TEXT, RefinementType.SUBJECT][i % 3],
                status=JobStatus.COMPLETED if done else JobStatus.FAILED,
                prompt="p" if i % 2 else None,
                instructions=None if i % 2 else "fix it",
                mask=[{"x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4}] if i % 4 == 0 else None,
                creativity_level=1 + i % 3,
                depth=1 if i < 5 else 2 if i < 21 else 3,
                image_path=f"refinements/{i}.png" if done else None,
                width=10 if done else None,
                height=10 if done else None,
                summary=f"s{i}",
                cost_usd=0.01 * i if done else None,
                error_message=None if done else "boom",
                # the same created_at for some siblings: ties are ordered by id
                created_at=base + timedelta(seconds=i // 2),
                completed_at=base + timedelta(seconds=i) if done else None,
                parent_image_id=image_id if i < 5 else None,
                parent_refinement_id=ids[i // 4] if i >= 5 else None,
            )
        )
    async with services.db() as session:
        await session.execute(insert(Refinement), rows)
        await session.commit()
    return run["id"]


async def test_the_plan_answers_what_graphql_core_answers(services, client):
    run_gid = await _tree(services, client)
    planned = build_schema(services.settings)
    plain = build_schema(services.settings)
    plain.execution_context_class = FanoutExecutionContext
    assert planned.execution_context_class is TreeExecutionContext
    for deep in (True, False):
        variables = {"id": run_gid, "deep": deep}
        ours = await planned.execute(QUERY, variable_values=variables, context_value=Context(services=services))
        theirs = await plain.execute(QUERY, variable_values=variables, context_value=Context(services=services))
        assert ours.errors is None and theirs.errors is None, (ours.errors, theirs.errors)
        assert ours.data == theirs.data
        first = ours.data["run"]["images"][0]["children"]
        assert sorted(c["version"] for c in first) == [2, 3, 4, 5]
        assert sum(len(c["children"]) for c in first) == 15
        if deep:
            assert first[0]["children"][0]["children"][0]["ancestors"][0]["__typename"] == "Image"


async def test_an_error_inside_a_planned_tree_nulls_what_graphql_core_nulls(services, client, monkeypatch):
    from churns_gql.graphql import loaders

    run_gid = await _tree(services, client)
    # 20 tree rows for the three levels, then the lineages: over a budget of 25.
    monkeypatch.setattr(loaders, "MAX_TREE_ROWS", 25)
    planned = build_schema(services.settings)
    plain = build_schema(services.settings)
    plain.execution_context_class = FanoutExecutionContext
    variables = {"id": run_gid, "deep": True}
    ours = await planned.execute(QUERY, variable_values=variables, context_value=Context(services=services))
    theirs = await plain.execute(QUERY, variable_values=variables, context_value=Context(services=services))
    assert ours.data == theirs.data == {"run": None}
    assert [e.message for e in ours.errors] == [e.message for e in theirs.errors]
    assert [e.path for e in ours.errors] == [e.path for e in theirs.errors]


async def test_plain_fields_are_read_from_rows_without_building_objects(services, client, monkeypatch):
    """Regression (bench P3b): every node of a tree list became a Strawberry object, even for `id version url`."""
    run = await _tree(services, client)
    built: list[str] = []
    for cls in (gql_types.Refinement,):  # (the run's images come from their own resolver, as objects)
        original = cls.from_model.__func__

        def counting(klass, row, storage, _original=original):
            built.append(klass.__name__)
            return _original(klass, row, storage)

        monkeypatch.setattr(cls, "from_model", classmethod(counting))
    plain = """query($id: ID!) { run(id: $id) { images { children { id version status url children {
        id version url children { id ancestors { __typename id version url } } } } } } }"""
    data = await client.data(plain, {"id": run})
    assert data["run"]["images"][0]["children"] and built == [], built
    # A field graphql-core completes (`mask`, a list of objects) builds the node's object, once per node.
    masked = """query($id: ID!) { run(id: $id) { images { children { id mask { x } prompt } } } }"""
    data = await client.data(masked, {"id": run})
    assert len(built) == len(data["run"]["images"][0]["children"]) == 4


VARIED = """
fragment Deep on Refinement { id children { id v: version url ... on Refinement { status } } }
query($id: ID!, $yes: Boolean!, $no: Boolean!) {
  run(id: $id) {
    images {
      first: children {
        id status
        children @include(if: $yes) {
          __typename
          a: id
          summary @skip(if: $no)
          errorMessage
          stages { name }
          children { ...Deep ancestors { id ... on Refinement { prompt mask { x } } } }
        }
      }
      second: children { url children { id children @skip(if: $yes) { id } } }
    }
  }
}
"""


async def test_errors_deep_inside_a_planned_tree_carry_graphql_cores_paths(services, client, monkeypatch):
    """A field graphql-core completes, failing on one node two levels down: the same nulls and error path."""
    from churns_gql.graphql import context

    run_gid = await _tree(services, client)
    planned = build_schema(services.settings)
    plain = build_schema(services.settings)
    plain.execution_context_class = FanoutExecutionContext
    variables = {"id": run_gid, "yes": True, "no": False}
    fine = await plain.execute(VARIED, variable_values=variables, context_value=Context(services=services))
    assert fine.errors is None, fine.errors
    victim = decode_id(fine.data["run"]["images"][0]["first"][1]["children"][2]["a"])[1]
    real = context.make_loaders

    def failing_events(*args, **kwargs):
        made = real(*args, **kwargs)

        async def boom(keys):
            return [RuntimeError("no events") if key == victim else [] for key in keys]

        made.events_by_job.load_fn = boom
        return made

    monkeypatch.setattr(context, "make_loaders", failing_events)
    for yes, no in ((True, False), (False, True), (True, True)):
        variables = {"id": run_gid, "yes": yes, "no": no}
        ours = await planned.execute(VARIED, variable_values=variables, context_value=Context(services=services))
        theirs = await plain.execute(VARIED, variable_values=variables, context_value=Context(services=services))
        assert ours.data == theirs.data
        # (messages are masked, each with its own incident id)
        assert [e.path for e in ours.errors or []] == [e.path for e in theirs.errors or []]
        assert [e.path for e in ours.errors or []] == (
            [["run", "images", 0, "first", 1, "children", 2, "stages"]] if yes else []
        )


async def test_a_plans_code_is_compiled_once_per_shape(services, client):
    """The generated completion is compiled once per sequence of field kinds, not per request or per plan."""
    from churns_gql.graphql import plan_code

    run_gid = await _tree(services, client)
    query = "query($id: ID!) { run(id: $id) { images { children { id a: version b: version children { id } } } } }"
    first = await client.data(query, {"id": run_gid})
    compiled = plan_code._factory.cache_info().misses
    again = await client.data(query, {"id": run_gid})
    renamed = await client.data(query.replace("a: version b: version", "x: version y: version"), {"id": run_gid})
    assert first == again and plan_code._factory.cache_info().misses == compiled
    assert renamed["run"]["images"][0]["children"][0]["x"] == first["run"]["images"][0]["children"][0]["a"]


async def test_subtree_rows_carry_what_the_orm_reads(services, client):
    """Subtree rows (named tuples of Core rows) hold the same values as ORM objects, column by column: enums
    as their members, JSON decoded, floats, times and nulls as they are."""
    from sqlalchemy import select

    from churns_gql.db import read_session
    from churns_gql.services.subtrees import subtree

    run_gid = await _tree(services, client)
    run_id = decode_id(run_gid)[1]
    async with services.db() as session:
        orm = {r.id: r for r in (await session.scalars(select(Refinement).where(Refinement.run_id == run_id))).all()}
        images = [r.parent_image_id for r in orm.values() if r.parent_image_id is not None]
    async with read_session(services.db) as session:
        found = await subtree(session, image_ids=sorted(set(images)), depth=5)
    rows = [row for kids in found.children.values() for row in kids]
    assert len(rows) == len(orm) == 21
    columns = Refinement.__table__.columns.keys()
    for row in rows:
        expected = orm[row.id]
        for column in columns:
            value, want = getattr(row, column), getattr(expected, column)
            assert value == want and type(value) is type(want), (column, value, want)
    assert any(row.mask for row in rows) and any(row.cost_usd for row in rows)
