"""Version subtrees: every refinement below some parents, a given number of levels deep, in one recursive query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import ARRAY, Integer, Uuid, any_, bindparam, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import Image, Refinement
from churns_gql.services.lineages import RefinementRow


@dataclass
class Subtree:
    """Children lists of the requested parents and of every refinement above the last level read.

    `children` holds a complete, oldest-first list for each requested parent and each refinement whose own
    children were read (levels 1 .. depth - 1), as named tuples of the table's columns (no ORM objects: building
    them cost more than the query); `rows` is how many refinement rows the query returned; `by_id` holds each
    row once, by id (a dict a caller can merge into its own without hashing every id again).
    """

    children: dict[uuid.UUID, list[Any]] = field(default_factory=dict)
    rows: int = 0
    by_id: dict[uuid.UUID, Any] = field(default_factory=dict)


# RefinementRow._make without its length check: every row is sliced to the table's columns.
_new = tuple.__new__
_COLUMNS = Refinement.__table__.columns.keys()
_ID, _PARENT_IMAGE, _PARENT_REFINEMENT = (_COLUMNS.index(c) for c in ("id", "parent_image_id", "parent_refinement_id"))
_LEVEL = len(_COLUMNS)


@lru_cache(maxsize=4)
def _statement(limited: bool, by_run: bool = False) -> Any:
    """The subtree walk, built once: parents (or runs, whose originals are the parents), depth and limit are
    bound parameters."""
    # Arrays rather than IN lists: one statement text whatever the number of parents, so it is prepared once.
    if by_run:
        originals = select(Image.id).where(Image.run_id == any_(bindparam("run_ids", type_=ARRAY(Uuid))))
        seed: Any = Refinement.parent_image_id.in_(originals.scalar_subquery())
    else:
        images = bindparam("image_ids", type_=ARRAY(Uuid))
        refinements = bindparam("refinement_ids", type_=ARRAY(Uuid))
        seed = or_(Refinement.parent_image_id == any_(images), Refinement.parent_refinement_id == any_(refinements))
    start = select(Refinement.id, literal(1).label("level")).where(seed)
    walk = start.cte("walk", recursive=True)
    below = select(Refinement.id, (walk.c.level + 1).label("level")).where(
        Refinement.parent_refinement_id == walk.c.id, walk.c.level < bindparam("depth", type_=Integer)
    )
    walk = walk.union_all(below)
    query = select(*Refinement.__table__.columns, walk.c.level).join(walk, Refinement.id == walk.c.id)
    if limited:
        # The limit stays inside (it stops the walk); the order is applied to the rows that came back.
        query = query.limit(bindparam("limit", type_=Integer))
    cut = query.subquery("cut")
    # Oldest first, as every children list is: Postgres sorts them faster than Python would.
    return select(cut).order_by(cut.c.created_at, cut.c.id)


async def subtree(
    session: AsyncSession,
    *,
    image_ids: Sequence[uuid.UUID] = (),
    refinement_ids: Sequence[uuid.UUID] = (),
    run_ids: Sequence[uuid.UUID] = (),
    depth: int,
    limit: int | None = None,
) -> Subtree:
    """Refinements down to `depth` levels below the given originals and refinements; at most `limit` rows read.

    One recursive CTE walks level by level (Postgres hands rows out a level at a time, so a `limit`
    stops the walk instead of reading the whole tree and cutting it afterwards). With `run_ids`, the walk
    starts at those runs' originals (the others are ignored), and only originals with children get a list.
    """
    params: dict[str, Any] = {"depth": depth}
    if run_ids:
        params["run_ids"] = list(run_ids)
    else:
        params.update(image_ids=list(image_ids), refinement_ids=list(refinement_ids))
    if limit is not None:
        params["limit"] = limit
    # A Core statement on the session's connection: the ORM's row handling cost more than the query.
    connection = await session.connection()
    rows = (await connection.execute(_statement(limit is not None, bool(run_ids)), params)).all()
    out = Subtree(rows=len(rows))
    children = out.children
    for key in (*image_ids, *refinement_ids):
        children[key] = []
    placed = out.by_id
    # By position: a Row's attribute lookup costs more than the rest of this loop (920 rows in bench P3).
    for refinement in rows:
        rid = refinement[_ID]
        # A node under two of the parents asked (one above the other) comes once per path: list it once,
        # with its children known when any path read below it.
        if refinement[_LEVEL] < depth and rid not in children:
            children[rid] = []
        if rid in placed:
            continue
        key = refinement[_PARENT_IMAGE] or refinement[_PARENT_REFINEMENT]
        assert key is not None  # the table allows exactly one parent
        kids = children.get(key)
        if kids is None:
            kids = children[key] = []
        # Rows come oldest first, so each list is in order as it is built. A named tuple reads its fields
        # by attribute ten times faster than a Row, and the tree completion reads several of each node.
        kids.append(row := _new(RefinementRow, refinement[:_LEVEL]))
        placed[rid] = row
    return out
