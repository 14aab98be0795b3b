"""`Run.refinements` pages are plain reads: they run in autocommit, with no BEGIN/ROLLBACK round trips."""

from __future__ import annotations

from typing import Any

from tests.conftest import import_images, png_bytes
from tests.test_read_sessions import wire  # noqa: F401  # the fixture listing what asyncpg sends

QUERY = (
    "query($id: ID!) { node(id: $id) { ... on Run { refinements(first: 2) { totalCount edges { node { id } } } } } }"
)


async def test_a_refinements_page_runs_without_a_transaction(client: Any, wire: list[str], count_queries: Any):  # noqa: F811
    """Regression (bench P8b): the page was read in an ORM transaction, two round trips more than its statements."""
    run = (await import_images(client, [png_bytes()]))["run"]
    await client.data(QUERY, {"id": run["id"]})  # the gate's first look at auth state is a transaction
    wire.clear()
    count_queries.statements.clear()
    data = await client.data(QUERY, {"id": run["id"]})
    assert data["node"]["refinements"] == {"totalCount": 0, "edges": []}
    # The page's statements ran (SQLAlchemy saw them); asyncpg's query logger saw no transaction around them.
    assert any("refinement_counts" in s for s in count_queries.statements), count_queries.statements
    sent = [q.strip().upper() for q in wire]
    assert not any(q.startswith(("BEGIN", "ROLLBACK", "COMMIT")) for q in sent), sent
