"""Document size and static cost limits: the probe's 40 MB comment, alias floods and metadata floods are refused."""

from __future__ import annotations

import time

from graphql import parse

from churns_gql.graphql.cost import DEFAULT_PAGE, selection_cost

ALIAS_FLOOD = (
    "{ "
    + " ".join(f"a{i}: runs(first: 100) {{ edges {{ node {{ refinements {{ totalCount }} }} }} }}" for i in range(100))
    + " }"
)
METADATA_FLOOD = (
    "{ " + " ".join(f"m{i}: runs(first: 100) {{ edges {{ node {{ metadata }} }} }}" for i in range(100)) + " }"
)


def _cost(query: str) -> int:
    document = parse(query)
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    return selection_cost(document.definitions[0].selection_set, fragments)


async def test_a_huge_comment_is_refused_before_parsing(client):
    query = "# " + "x" * 5_000_000 + "\n{ __typename }"
    started = time.monotonic()
    response = await client.http.post("/graphql", json={"query": query})
    assert time.monotonic() - started < 2
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX" and "limit is 100,000" in error["message"]


async def test_alias_and_metadata_floods_are_too_complex(client):
    for flood in (ALIAS_FLOOD, METADATA_FLOOD):
        body = (await client.http.post("/graphql", json={"query": flood})).json()
        assert body.get("data") is None
        assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", body["errors"][0]


async def test_ordinary_pages_stay_well_within_the_limit(client):
    body = await client.execute(
        "{ runs(first: 20) { totalCount edges { node { id prompt metadata images { id url "
        "children { id version children { id } } } } } } }"
    )
    assert "errors" not in body, body


def test_cost_counts_pages_fragments_and_variables():
    # runs: 1 + page x edges; edges: 1 + node; node: 1 + id.
    assert _cost("{ runs { edges { node { id } } } }") == 1 + DEFAULT_PAGE * (1 + (1 + 1))
    with_fragment = "query { runs(first: 5) { ...R } } fragment R on RunConnection { totalCount }"
    assert _cost(with_fragment) == 1 + 5 * 10
    # A variable page size may be the maximum, so it is costed as one.
    assert _cost("query($n: Int) { runs(first: $n) { totalCount } }") == 1 + 100 * 10
