"""Who may see what: with tokens in use, a run and everything in it belongs to the token that made it."""

from __future__ import annotations

import uuid
from typing import Any

from churns_gql import models
from churns_gql.graphql.context import Info


async def run_visible(info: Info, run_id: uuid.UUID | None) -> bool:
    """True when the caller may see the run (always, while auth is off)."""
    if run_id is None:
        return False
    caller = info.context.caller
    if caller.is_open:
        return True
    run = await info.context.loaders.run_by_id.load(run_id)
    return run is not None and run.owner_token_id == caller.token_id


async def visible(info: Info, row: Any) -> Any:
    """The row when the caller may see it, else None: others' objects look exactly like missing ones."""
    if row is None:
        return None
    run_id = row.id if isinstance(row, models.Run) else row.run_id
    return row if await run_visible(info, run_id) else None


async def load_visible(info: Info, type_name: str, raw_id: uuid.UUID | None) -> Any:
    """A Run, Image or Refinement row by id, if it exists and the caller may see it."""
    if raw_id is None:
        return None
    loaders = info.context.loaders
    loader = {"Run": loaders.run_by_id, "Image": loaders.image_by_id, "Refinement": loaders.refinement_by_id}.get(
        type_name
    )
    if loader is None:
        return None
    return await visible(info, await loader.load(raw_id))
