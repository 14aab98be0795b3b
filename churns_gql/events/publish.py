"""Publishing stage events: one INSERT that also pg_notify()s, taking effect when the caller commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import StageEvent, StageStatus

CHANNEL = "churns_events"
"""The Postgres NOTIFY channel every stage event is announced on."""

JOB_STAGE = "job"
"""Stage name of job-level events (queued, terminal), which are not listed as a StageRun."""


_INSERT_AND_NOTIFY = text("""
WITH e AS (
    INSERT INTO stage_events
        (job_id, run_id, seq, stage, status, progress, message, cost_usd, preview_path, code, terminal, created_at)
    VALUES (:job_id, :run_id,
            CASE WHEN :first THEN 1
                 ELSE COALESCE((SELECT max(seq) FROM stage_events WHERE job_id = :job_id), 0) + 1 END,
            :stage, :status, :progress, :message, :cost_usd, :preview_path, :code, :terminal, :created_at)
    RETURNING id, seq
)
SELECT e.id, e.seq, pg_notify(:channel, CASE WHEN :inline
    THEN json_build_object('id', e.id, 'job', :job_id, 'run', :run_id, 'seq', e.seq, 'stage', :stage,
                           'status', :status, 'progress', :progress, 'message', :message, 'cost_usd', :cost_usd,
                           'preview_path', :preview_path, 'code', :code, 'terminal', :terminal,
                           'at', :created_at)::text
    ELSE json_build_object('id', e.id, 'job', :job_id, 'run', :run_id, 'seq', e.seq)::text END)
FROM e
""")

FIRST_EVENT_CTE = f"""first_event AS (
    INSERT INTO stage_events (job_id, run_id, seq, stage, status, progress, message, terminal, created_at)
    SELECT CAST(:job_id AS uuid), job.run_id, 1, '{JOB_STAGE}', 'PENDING', 0, 'queued', false,
           CAST(:created_at AS timestamptz)
    FROM job
    RETURNING id, job_id, run_id, seq, status, progress, message, cost_usd, preview_path, terminal, created_at)"""
"""A job's first event (lifecycle.publish_queued's, seq 1) as a CTE, to write it in the statement inserting the job:
it follows a CTE `job` returning the job's run_id, and is written only when that CTE inserted the job."""

FIRST_EVENT_NOTIFY = f"""(SELECT count(pg_notify('{CHANNEL}', json_build_object(
    'id', e.id, 'job', e.job_id, 'run', e.run_id, 'seq', e.seq, 'stage', '{JOB_STAGE}'::text, 'status', e.status,
    'progress', e.progress, 'message', e.message, 'cost_usd', e.cost_usd, 'preview_path', e.preview_path,
    'terminal', e.terminal, 'at', e.created_at)::text)) FROM first_event e)"""
"""The select-list expression that announces FIRST_EVENT_CTE's event, whole, as publish() would."""

# NOTIFY payloads must stay under 8,000 bytes; longer events travel as ids and are read back.
_INLINE_LIMIT = 6000


async def publish(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    run_id: uuid.UUID,
    stage: str,
    status: StageStatus,
    progress: float,
    message: str | None = None,
    cost_usd: float | None = None,
    preview_path: str | None = None,
    code: str | None = None,
    terminal: bool = False,
    first: bool = False,
) -> StageEvent:
    """Insert the job's next event and pg_notify it, in one statement; takes effect when the caller commits.

    The caller holds the job's row lock (services.lifecycle takes it for every transition), so two
    publishers of one job — the worker and a cancel — take turns and seq stays gap-free and unique.
    `first` is for the event written with the job's own row: its seq is 1. The notification carries
    the whole event when it fits, so listeners need not read it back.
    """
    event = StageEvent(
        job_id=job_id,
        run_id=run_id,
        stage=stage,
        status=status,
        progress=max(0.0, min(1.0, progress)),
        message=message,
        cost_usd=cost_usd,
        preview_path=preview_path,
        code=code,
        terminal=terminal,
        created_at=datetime.now(UTC),
    )
    inline = len(message or "") + len(preview_path or "") + len(stage) < _INLINE_LIMIT
    row = (
        await session.execute(
            _INSERT_AND_NOTIFY,
            {
                "job_id": str(job_id),
                "run_id": str(run_id),
                "first": first,
                "stage": stage,
                "status": status.value,
                "progress": event.progress,
                "message": message,
                "cost_usd": cost_usd,
                "preview_path": preview_path,
                "code": code,
                "terminal": terminal,
                "created_at": event.created_at,
                "channel": CHANNEL,
                "inline": inline,
            },
        )
    ).one()
    event.id, event.seq = row[0], row[1]
    return event


def event_from_payload(data: dict[str, Any]) -> StageEvent | None:
    """The event a notification carries in full, or None when it only names it (too long to carry)."""
    if "stage" not in data:
        return None
    return StageEvent(
        id=int(data["id"]),
        job_id=uuid.UUID(data["job"]),
        run_id=uuid.UUID(data["run"]),
        seq=int(data["seq"]),
        stage=data["stage"],
        status=StageStatus(data["status"]),
        progress=float(data["progress"]),
        message=data["message"],
        cost_usd=data["cost_usd"],
        preview_path=data["preview_path"],
        code=data.get("code"),
        terminal=bool(data["terminal"]),
        created_at=datetime.fromisoformat(data["at"]),
    )
