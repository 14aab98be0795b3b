"""The caller's own view: which token it is and how much of each limit it uses."""

from __future__ import annotations

from typing import Optional

import strawberry

from churns_gql.graphql.context import Info
from churns_gql.services import quotas


@strawberry.type(description="One limit and the caller's use of it; a limit of 0 means unlimited.")
class LimitUsage:
    """Used against limit."""

    used: float = strawberry.field(description="How much is in use now.")
    limit: float = strawberry.field(description="The limit (0 = unlimited).")


@strawberry.type(description="The caller: its token (null without auth) and its use of every per-token limit.")
class Me:
    """The caller and its quotas."""

    token_id: Optional[strawberry.ID] = strawberry.field(description="The API token's id; null when auth is off.")
    queued_this_minute: LimitUsage = strawberry.field(description="Jobs queued this minute (createRun, refineImage).")
    active_jobs: LimitUsage = strawberry.field(description="Runs and refinements QUEUED or RUNNING.")
    spent_today_usd: LimitUsage = strawberry.field(description="Spend today (UTC): real costs, estimates until known.")
    storage_mb: LimitUsage = strawberry.field(description="Megabytes in the caller's run folders.")


async def resolve_me(info: Info) -> Me:
    """The caller's usage, read in one session."""
    context = info.context
    settings = context.settings
    token_id = context.caller.token_id
    async with context.services.db() as session:
        used = await quotas.usage(session, context.storage, token_id)
    return Me(
        token_id=strawberry.ID(str(token_id)) if token_id else None,
        queued_this_minute=LimitUsage(used=used.queued_this_minute, limit=settings.rate_limit_per_minute),
        active_jobs=LimitUsage(used=used.active_jobs, limit=settings.max_active_jobs_per_token),
        spent_today_usd=LimitUsage(used=round(used.spent_today_usd, 4), limit=settings.daily_spend_limit_usd),
        storage_mb=LimitUsage(used=round(used.storage_mb, 2), limit=settings.max_storage_mb_per_token),
    )
