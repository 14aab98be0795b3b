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


async def test_a_refinement_job_takes_one_transaction_per_stage_boundary(
    client, worker_services, clean_db, count_queries
) -> None:
    """Regression (bench P6): each stage event was its own transaction (start, then RUNNING and COMPLETED of each
    of three stages, then the end: 7, and one more to read the run and the parent). Now the start carries the reads
    and the first stage's RUNNING, a stage's COMPLETED carries the next stage's RUNNING, and the end its last
    COMPLETED; the events and their order are the same."""
    from sqlalchemy import event, select

    from churns_gql.global_ids import decode_id
    from churns_gql.models import StageEvent

    run = (await import_images(client, [png_bytes(80, 60)]))["run"]
    refinement = (await refine(client, run["images"][0]["id"], prompt="warmer"))["refinement"]
    job_id = decode_id(refinement["id"])[1]
    commits: list[int] = []

    def committed(_conn) -> None:
        """Count the transactions that commit (read-only sessions end without one)."""
        commits.append(len(count_queries.statements))

    event.listen(clean_db.sync_engine, "commit", committed)
    try:
        assert await run_worker(worker_services) == 1
    finally:
        event.remove(clean_db.sync_engine, "commit", committed)
    # start, two stage boundaries, the end; then refinements.json's entry (its own lock transaction).
    assert len(commits) == 5, count_queries.statements
    async with worker_services.db() as session:
        rows = (
            await session.execute(
                select(StageEvent.seq, StageEvent.stage, StageEvent.status)
                .where(StageEvent.job_id == job_id)
                .order_by(StageEvent.seq)
            )
        ).all()
    assert [(stage, status.value) for _seq, stage, status in rows] == [
        ("job", "PENDING"),
        ("job", "RUNNING"),
        ("load_base_image", "RUNNING"),
        ("load_base_image", "COMPLETED"),
        ("prompt_refine", "RUNNING"),
        ("prompt_refine", "COMPLETED"),
        ("save_outputs", "RUNNING"),
        ("save_outputs", "COMPLETED"),
        ("job", "COMPLETED"),
    ]
    assert [seq for seq, _stage, _status in rows] == list(range(1, 10))
