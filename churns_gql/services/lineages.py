"""Lineages: each refinement's original and refinement ancestors, read for many refinements in one query."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import ARRAY, Integer, Uuid, and_, any_, bindparam, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from churns_gql.models import Image, Refinement

_REFINEMENT = Refinement.__table__
_IMAGE = Image.__table__
RefinementRow: Any = NamedTuple(  # type: ignore[misc]  # built from the table, so it cannot drift from it
    "RefinementRow", [(c.key, Any) for c in _REFINEMENT.columns]
)
ImageRow: Any = NamedTuple("ImageRow", [(c.key, Any) for c in _IMAGE.columns])  # type: ignore[misc]
_NR = len(_REFINEMENT.columns)


@lru_cache(maxsize=2)
def _statement(limited: bool) -> Any:
    """The lineage walk, built once: the refinements and the limit are bound parameters."""
    # Arrays rather than IN lists: one statement text whatever the number of refinements, so it is prepared once.
    ids = bindparam("refinement_ids", type_=ARRAY(Uuid))
    start = select(
        _REFINEMENT.c.id.label("start_id"),
        _REFINEMENT.c.parent_refinement_id.label("ancestor_id"),
        _REFINEMENT.c.parent_image_id.label("image_id"),
        literal(1).label("depth"),
    ).where(_REFINEMENT.c.id == any_(ids))
    walk = start.cte("walk", recursive=True)
    parent = _REFINEMENT.alias("parent")
    # One primary-key probe per step, whatever the planner believes: as a plain join, a table it had not yet
    # analyzed (a tree just written) got a hash join that scanned every refinement once per step of the chain.
    step = (
        select(parent.c.parent_refinement_id, parent.c.parent_image_id)
        .where(parent.c.id == walk.c.ancestor_id)
        .limit(1)
        .lateral("step")
    )
    walk = walk.union_all(
        select(walk.c.start_id, step.c.parent_refinement_id, step.c.parent_image_id, walk.c.depth + 1).select_from(
            walk.join(step, true())
        )
    )
    ordered = select(walk).order_by(walk.c.start_id, walk.c.depth.desc())
    cut = (ordered.limit(bindparam("limit", type_=Integer)) if limited else ordered).subquery("cut")
    # Lineages of one tree share most of their ancestors: each row's columns are sent once, with its first step.
    ranked = select(
        cut,
        func.row_number().over(partition_by=cut.c.ancestor_id).label("first_ancestor"),
        func.row_number().over(partition_by=cut.c.image_id).label("first_image"),
    ).subquery("ranked")
    ancestor = _REFINEMENT.alias("ancestor")
    root = _IMAGE.alias("root")
    return select(
        ranked.c.start_id, ranked.c.depth, ranked.c.ancestor_id, ranked.c.image_id, *ancestor.c, *root.c
    ).select_from(
        ranked.outerjoin(ancestor, and_(ancestor.c.id == ranked.c.ancestor_id, ranked.c.first_ancestor == 1)).outerjoin(
            root, and_(root.c.id == ranked.c.image_id, ranked.c.first_image == 1)
        )
    )


async def refinement_lineages(
    session: AsyncSession, refinement_ids: Sequence[uuid.UUID], *, limit: int | None = None
) -> dict[uuid.UUID, tuple[Any, list[Any]]]:
    """For each refinement: its root original and its refinement ancestors, oldest first, as rows of their columns.

    One recursive CTE walks every chain upwards at once, whatever the depth, and brings the root image
    along in the same statement; at most `limit` steps (one per ancestor and one per root) are read. A
    lineage cut short by the limit is left out. Rows are the tables' columns, not ORM objects: building
    those cost more than the query (bench P3b).
    """
    params: dict[str, Any] = {"refinement_ids": list(refinement_ids)}
    if limit is not None:
        params["limit"] = limit
    connection = await session.connection()
    rows = (await connection.execute(_statement(limit is not None), params)).all()
    ancestors: dict[uuid.UUID, Any] = {}
    images: dict[uuid.UUID, Any] = {}
    steps: dict[uuid.UUID, list[tuple[int, uuid.UUID]]] = defaultdict(list)
    roots: dict[uuid.UUID, uuid.UUID] = {}
    for row in rows:
        start_id, depth, ancestor_id, image_id = row[0], row[1], row[2], row[3]
        if ancestor_id is not None:
            steps[start_id].append((depth, ancestor_id))
            if row[4] is not None:
                ancestors[ancestor_id] = RefinementRow._make(row[4 : 4 + _NR])
        if image_id is not None:
            roots[start_id] = image_id
            if row[4 + _NR] is not None:
                images[image_id] = ImageRow._make(row[4 + _NR :])
    out: dict[uuid.UUID, tuple[Any, list[Any]]] = {}
    for rid in refinement_ids:
        image = images.get(roots.get(rid))  # type: ignore[arg-type]  # a missing root is None either way
        chain = [ancestors.get(a) for _, a in sorted(steps.get(rid, ()), reverse=True)]
        if image is not None and None not in chain:
            out[rid] = (image, chain)
    return out
