"""Per-result extension hooks of subscriptions: found once per operation, run per result exactly as Strawberry would."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator

import strawberry
from strawberry.extensions import SchemaExtension, runner

from churns_gql.graphql.errors import CodedErrors
from churns_gql.graphql.schema import build_schema
from churns_gql.graphql.stream_hooks import LeanSchema

calls: list[str] = []


class Outer(SchemaExtension):
    """Records its hook around each result and marks the result's extensions."""

    def on_stream_result(self, result) -> Iterator[None]:
        calls.append(f"outer-in {(result.data or {}).get('count')}")
        yield
        calls.append("outer-out")

    def get_results(self):
        return {"outer": True}


class Inner(SchemaExtension):
    """A second hook, entered after Outer and left before it."""

    def on_stream_result(self, result) -> Iterator[None]:
        calls.append("inner-in")
        result.extensions = {**(result.extensions or {}), "seen": (result.data or {}).get("count")}
        yield
        calls.append("inner-out")


@strawberry.type
class Query:
    """A query root (a schema needs one)."""

    ok: bool = True


@strawberry.type
class Subscription:
    """Counts to three; the third value fails inside the resolver."""

    @strawberry.subscription
    async def count(self) -> AsyncGenerator[int, None]:
        """1, 2, then an unexpected error."""
        yield 1
        yield 2
        raise RuntimeError("boom")


def _schema() -> LeanSchema:
    return LeanSchema(query=Query, subscription=Subscription, extensions=[Outer, Inner, CodedErrors])


async def test_stream_hooks_run_in_order_around_every_result_without_strawberrys_per_result_managers(monkeypatch):
    """Regression (bench P1): Strawberry built its hook context managers anew for every event of every subscriber."""
    built = []
    original = runner.StreamResultContextManager

    class Counting(original):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner, "StreamResultContextManager", Counting)
    calls.clear()
    results = [r async for r in await _schema().subscribe("subscription { count }")]
    assert [r.data for r in results[:2]] == [{"count": 1}, {"count": 2}]
    assert [r.extensions for r in results[:2]] == [{"outer": True, "seen": 1}, {"outer": True, "seen": 2}]
    assert calls[:6] == ["outer-in 1", "inner-in", "inner-out", "outer-out", "outer-in 2", "inner-in"]
    # The failure is still masked by CodedErrors' hook: a code and an id, not the exception text.
    error = results[2].errors[0]
    assert error.extensions["code"] == "INTERNAL" and "boom" not in error.message
    assert built == []


async def test_the_api_schema_uses_the_lean_runner():
    assert isinstance(build_schema(), LeanSchema)
