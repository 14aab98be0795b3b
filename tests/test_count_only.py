"""`runs` reads no page for a count-only selection, and every merged node of the field decides that."""

from __future__ import annotations

from tests.conftest import import_images, png_bytes


async def test_a_field_selected_twice_gets_its_rows_when_either_node_asks_for_them(client):
    run_id = (await import_images(client, [png_bytes()]))["run"]["id"]
    page = {"totalCount": 1, "edges": [{"node": {"id": run_id}}]}
    merged = await client.data("{ runs { totalCount } runs { edges { node { id } } } }")
    assert merged == {"runs": page}
    assert await client.data("{ runs { edges { node { id } } } runs { totalCount } }") == {"runs": page}
    fragment = await client.data("{ runs { ... on RunConnection { totalCount edges { node { id } } } } }")
    assert fragment == {"runs": page}


async def test_a_count_only_selection_reads_no_page(client, count_queries):
    await import_images(client, [png_bytes()])
    before = count_queries.count
    assert await client.data("{ runs { totalCount __typename } runs { totalCount } }") == {
        "runs": {"totalCount": 1, "__typename": "RunConnection"}
    }
    assert count_queries.count == before  # the count runs on the driver; a page would be read through SQLAlchemy
