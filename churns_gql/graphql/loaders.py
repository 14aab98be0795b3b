"""Per-request DataLoaders, named XByYLoader; each batch is one SQL round trip on its own session."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from churns_gql import events
from churns_gql.services import refinements as refinement_service
from churns_gql.services import runs as run_service

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

def _batched(
    db: async_sessionmaker[AsyncSession],
    fetch: Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]],
    default: Callable[[], Any] = lambda: None,
) -> DataLoader[Any, Any]:
    async def load(keys: list[Any]) -> list[Any]:
        async with db() as session:
            found = await fetch(session, keys)
        return [found[key] if key in found else default() for key in keys]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    """Every loader of one request (or of one subscription event)."""

    run_by_id: DataLoader[uuid.UUID, Any]
    image_by_id: DataLoader[uuid.UUID, Any]
    refinement_by_id: DataLoader[uuid.UUID, Any]
    images_by_run: DataLoader[uuid.UUID, list[Any]]
    children_by_image: DataLoader[uuid.UUID, list[Any]]
    children_by_refinement: DataLoader[uuid.UUID, list[Any]]
    lineage_by_refinement: DataLoader[uuid.UUID, Any]
    refinement_cost_by_run: DataLoader[uuid.UUID, float]
    events_by_job: DataLoader[uuid.UUID, list[Any]]


def make_loaders(db: async_sessionmaker[AsyncSession]) -> Loaders:
    """Fresh loaders: their caches live exactly as long as the request that made them."""
    return Loaders(
        run_by_id=_batched(db, run_service.runs_by_ids),
        image_by_id=_batched(db, run_service.images_by_ids),
        refinement_by_id=_batched(db, refinement_service.refinements_by_ids),
        images_by_run=_batched(db, run_service.images_by_run_ids, list),
        children_by_image=_batched(db, refinement_service.children_of_images, list),
        children_by_refinement=_batched(db, refinement_service.children_of_refinements, list),
        lineage_by_refinement=_batched(db, refinement_service.refinement_lineages),
        refinement_cost_by_run=_batched(db, run_service.refinement_costs_by_run_ids, float),
        events_by_job=_batched(db, events.events_by_job_ids, list),
    )
