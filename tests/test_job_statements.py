"""What an offline refinement job sends to Postgres besides its transitions: no status polls around the edit."""

from __future__ import annotations

from tests.conftest import import_images, png_bytes, refine, run_worker


def _status_polls(statements: list[str]) -> list[str]:
    """Reads of one job's status alone (ctx.check_cancelled), not the transitions' locked reads."""
    return [s for s in statements if s.startswith("SELECT refinements.status") and "WHERE refinements.id =" in s]


async def test_an_edit_stage_reads_no_status_besides_its_events(client, worker_services, count_queries) -> None:
    run = (await import_images(client, [png_bytes(80, 60)]))["run"]
    await refine(client, run["images"][0]["id"], prompt="warmer")
    before = count_queries.count
    assert await run_worker(worker_services) == 1
    # The stage's RUNNING and COMPLETED events on either side of the editor call commit only while the job runs;
    # a status read before and after the call was two more round trips for the same answer.
    assert _status_polls(count_queries.statements[before:]) == []
