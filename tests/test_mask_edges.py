"""Mask rectangles at the smallest size validation lets through, on small images, complete in the worker."""

from __future__ import annotations

import pytest

from churns_gql.graphql.ids import decode_id
from churns_gql.models import JobStatus, Refinement
from tests.conftest import import_images, png_bytes, refine, run_worker


@pytest.mark.parametrize(
    "rect",
    [
        {"x": 0.99, "y": 0.99, "width": 0.01, "height": 0.01},
        {"x": 0.0, "y": 0.0, "width": 0.01, "height": 1.0},
        {"x": 0.495, "y": 0.2, "width": 0.01, "height": 0.01},
    ],
    ids=["bottom-right-corner", "left-sliver", "middle-speck"],
)
@pytest.mark.parametrize("size", [(8, 8), (33, 17)])
async def test_the_smallest_accepted_rectangle_completes_on_a_small_image(
    client, services, worker_services, rect, size
):
    parent = (await import_images(client, [png_bytes(*size)]))["run"]["images"][0]["id"]
    payload = await refine(client, parent, prompt="make it warmer", mask=[rect])
    assert not payload["userErrors"], payload
    await run_worker(worker_services)
    async with services.db() as session:
        row = await session.get(Refinement, decode_id(payload["refinement"]["id"])[1])
    assert row.status == JobStatus.COMPLETED, row.error_message


def test_a_sliver_covers_the_pixel_it_lies_in_and_a_wide_rectangle_is_unchanged():
    from churns_gql.geometry import Rect

    assert Rect(0.99, 0.99, 0.01, 0.01).to_pixels(8, 8) == (7, 7, 8, 8)
    assert Rect(0.495, 0.0, 0.01, 1.0).to_pixels(8, 8) == (4, 0, 5, 8)
    assert Rect(0.25, 0.25, 0.5, 0.5).to_pixels(100, 60) == (25, 15, 75, 45)
    assert Rect(0.5, 0.5, 0.0, 0.5).to_pixels(100, 100) == (50, 50, 50, 100)  # no area stays empty
    assert Rect(1.2, 0.0, 0.3, 0.3).to_pixels(8, 8)[0:3:2] == (8, 8)  # wholly outside stays empty
    assert Rect(1.0, 0.0, 0.01, 0.5).to_pixels(8, 8)[0:3:2] == (8, 8)
