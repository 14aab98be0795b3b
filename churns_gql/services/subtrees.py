"""Version subtrees: every refinement below some parents, a given number of levels deep, in one recursive query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import ARRAY, Integer, Uuid, any_, bindparam, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import Refinement


@dataclass
class Subtree:
    """Children lists of the requested parents and of every refinement above the last level read.

    `children` holds a complete, oldest-first list for each requested parent and each refinement whose own
    children were read (levels 1 .. depth - 1), as rows of the table's columns (no ORM objects: building
    them cost more than the query); `rows` is how many refinement rows the query returned.
    """

    children: dict[uuid.UUID, list[Any]] = field(default_factory=dict)
    rows: int = 0


@lru_cache(maxsize=2)
def _statement(limited: bool) -> Any:
    """The subtree walk, built once: parents, depth and limit are bound parameters."""
    # Arrays rather than IN lists: one statement text whatever the number of parents, so it is prepared once.
    images = bindparam("image_ids", type_=ARRAY(Uuid))
    refinements = bindparam("refinement_ids", type_=ARRAY(Uuid))
    start = select(Refinement.id, literal(1).label("level")).where(
        or_(Refinement.parent_image_id == any_(images), Refinement.parent_refinement_id == any_(refinements))
    )
    walk = start.cte("walk", recursive=True)
    below = select(Refinement.id, (walk.c.level + 1).label("level")).where(
        Refinement.parent_refinement_id == walk.c.id, walk.c.level < bindparam("depth", type_=Integer)
    )
    walk = walk.union_all(below)
    query = select(*Refinement.__table__.columns, walk.c.level).join(walk, Refinement.id == walk.c.id)
    return query.limit(bindparam("limit", type_=Integer)) if limited else query


async def subtree(
    session: AsyncSession,
    *,
    image_ids: Sequence[uuid.UUID] = (),
    refinement_ids: Sequence[uuid.UUID] = (),
    depth: int,
    limit: int | None = None,
) -> Subtree:
    """Refinements down to `depth` levels below the given originals and refinements; at most `limit` rows read.

    One recursive CTE walks level by level (Postgres hands rows out a level at a time, so a `limit`
    stops the walk instead of reading the whole tree and cutting it afterwards).
    """
    params = {"image_ids": list(image_ids), "refinement_ids": list(refinement_ids), "depth": depth}
    if limit is not None:
        params["limit"] = limit
    # A Core statement on the session's connection: the ORM's row handling cost more than the query.
    connection = await session.connection()
    rows = (await connection.execute(_statement(limit is not None), params)).all()
    out = Subtree(rows=len(rows))
    for key in (*image_ids, *refinement_ids):
        out.children[key] = []
    placed: set[uuid.UUID] = set()
    for refinement in rows:
        level = refinement.level
        # A node under two of the parents asked (one above the other) comes once per path: list it once,
        # with its children known when any path read below it.
        if level < depth:
            out.children.setdefault(refinement.id, [])
        if refinement.id in placed:
            continue
        placed.add(refinement.id)
        key = refinement.parent_image_id or refinement.parent_refinement_id
        assert key is not None  # the table allows exactly one parent
        out.children.setdefault(key, []).append(refinement)
    for kids in out.children.values():
        kids.sort(key=lambda r: (r.created_at, r.id))
    return out
