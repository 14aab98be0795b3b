"""Refinements: the version tree's SQL (children, ancestors, run lists) and stage summaries."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Sequence

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import JobStatus, Refinement, RefinementType
from churns_gql.services.runs import Page


async def refinements_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Refinement]:
    """Refinements keyed by id."""
    rows = (await session.scalars(select(Refinement).where(Refinement.id.in_(ids)))).all()
    return {r.id: r for r in rows}


async def children_of_images(session: AsyncSession, image_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Refinement]]:
    """Refinements made directly from each original, oldest first."""
    rows = (
        await session.scalars(
            select(Refinement)
            .where(Refinement.parent_image_id.in_(image_ids))
            .order_by(Refinement.created_at, Refinement.id)
        )
    ).all()
    out: dict[uuid.UUID, list[Refinement]] = {i: [] for i in image_ids}
    for row in rows:
        out[row.parent_image_id].append(row)  # type: ignore[index]
    return out


async def children_of_refinements(
    session: AsyncSession, refinement_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Refinement]]:
    """Refinements made directly from each refinement, oldest first."""
    rows = (
        await session.scalars(
            select(Refinement)
            .where(Refinement.parent_refinement_id.in_(refinement_ids))
            .order_by(Refinement.created_at, Refinement.id)
        )
    ).all()
    out: dict[uuid.UUID, list[Refinement]] = {i: [] for i in refinement_ids}
    for row in rows:
        out[row.parent_refinement_id].append(row)  # type: ignore[index]
    return out


async def refinement_lineages(
    session: AsyncSession, refinement_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, list[Refinement]]]:
    """For each refinement: its root original's id and its refinement ancestors, oldest first.

    One recursive CTE walks every chain upwards at once, whatever the depth.
    """
    start = select(
        Refinement.id.label("start_id"),
        Refinement.parent_refinement_id.label("ancestor_id"),
        Refinement.parent_image_id.label("image_id"),
        literal(1).label("depth"),
    ).where(Refinement.id.in_(refinement_ids))
    walk = start.cte("walk", recursive=True)
    parent = select(Refinement).subquery("parent")
    walk = walk.union_all(
        select(walk.c.start_id, parent.c.parent_refinement_id, parent.c.parent_image_id, walk.c.depth + 1).where(
            parent.c.id == walk.c.ancestor_id
        )
    )
    rows = await session.execute(
        select(walk.c.start_id, walk.c.depth, walk.c.image_id, Refinement)
        .select_from(walk)
        .outerjoin(Refinement, Refinement.id == walk.c.ancestor_id)
        .order_by(walk.c.start_id, walk.c.depth.desc())
    )
    roots: dict[uuid.UUID, uuid.UUID] = {}
    chains: dict[uuid.UUID, list[Refinement]] = defaultdict(list)
    for start_id, _depth, image_id, ancestor in rows:
        if image_id is not None:
            roots[start_id] = image_id
        if ancestor is not None:
            chains[start_id].append(ancestor)
    return {rid: (roots[rid], chains.get(rid, [])) for rid in refinement_ids if rid in roots}


async def list_run_refinements(
    session: AsyncSession,
    run_id: uuid.UUID,
    *,
    first: int,
    after: tuple[datetime, uuid.UUID] | None,
    type: RefinementType | None,
    status: JobStatus | None,
) -> Page:
    """A run's refinements oldest first, keyset-paginated by (created_at, id), with filters."""
    base = select(Refinement).where(Refinement.run_id == run_id)
    if type is not None:
        base = base.where(Refinement.type == type)
    if status is not None:
        base = base.where(Refinement.status == status)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    query = base
    if after is not None:
        created, ref_id = after
        query = query.where(
            or_(Refinement.created_at > created, and_(Refinement.created_at == created, Refinement.id > ref_id))
        )
    rows = (
        await session.scalars(query.order_by(Refinement.created_at, Refinement.id).limit(first + 1))
    ).all()
    return Page(rows=list(rows[:first]), has_next=len(rows) > first, total=int(total or 0))
