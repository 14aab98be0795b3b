"""Stage events: publishing (publish), the read model of stage_events (read) and the API's LISTEN hub (hub)."""

from churns_gql.events.follow import EventStreamLost, Parked, Position, follow_job, follow_run
from churns_gql.events.hub import RESYNC, EventHub, Subscriber
from churns_gql.events.publish import (
    CHANNEL,
    FIRST_EVENT_CTE,
    FIRST_EVENT_NOTIFY,
    JOB_STAGE,
    event_from_payload,
    publish,
)
from churns_gql.events.read import StageSummary, events_by_job_ids, summarize_stages

__all__ = [
    "CHANNEL",
    "FIRST_EVENT_CTE",
    "FIRST_EVENT_NOTIFY",
    "JOB_STAGE",
    "Parked",
    "Position",
    "RESYNC",
    "EventHub",
    "EventStreamLost",
    "StageSummary",
    "Subscriber",
    "event_from_payload",
    "events_by_job_ids",
    "follow_job",
    "follow_run",
    "publish",
    "summarize_stages",
]
