"""Relay connection arguments (first/after forward, last/before backward) checked and turned into a keyset Window."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Optional

from strawberry import relay

from churns_gql.db import Page, Window
from churns_gql.graphql.cursors import cursor_connection, decode_cursor
from churns_gql.graphql.errors import PublicError

DEFAULT_PAGE = 20
MAX_PAGE = 100
# The connections' names, which their cursors carry: a cursor is only accepted by the connection that issued it.
RUNS = "RunConnection"
REFINEMENTS = "RefinementConnection"


def run_refinements(run_id: uuid.UUID) -> str:
    """The name of one run's refinements connection: another run's refinement cursor is no position in it."""
    return f"{REFINEMENTS}/{run_id}"


def page_window(
    connection: str,
    *,
    first: Optional[int],
    after: Optional[str],
    last: Optional[int] = None,
    before: Optional[str] = None,
) -> Window:
    """The keyset window the arguments ask for; bad values are a PublicError (BAD_USER_INPUT).

    Without `first` or `last` a page is DEFAULT_PAGE items: the last ones before `before` when only it is
    given (paging backward), else the first ones.
    """
    if first is not None and last is not None:
        raise PublicError("give first or last, not both")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise PublicError(f"{name} must be between 0 and {MAX_PAGE}")
    from_end = last is not None or (first is None and before is not None)
    size = last if from_end else first
    return Window(
        limit=DEFAULT_PAGE if size is None else size,
        after=_position(connection, "after", after),
        before=_position(connection, "before", before),
        from_end=from_end,
    )


def _position(connection: str, name: str, cursor: Optional[str]) -> Any:
    if cursor is None:
        return None
    position = decode_cursor(cursor, connection)
    if position is not None:
        return position
    if cursor_connection(cursor) not in (None, connection):
        kind = connection.partition("/")[0]
        raise PublicError(f"{name} is not a cursor of this {kind}: a cursor only pages the connection that returned it")
    raise PublicError(f"{name} is not a cursor this API returned")


def page_info(page: Page, edges: Sequence[relay.Edge[Any]]) -> relay.PageInfo:
    """Relay's PageInfo of a page: its flags from the service, its cursors from its first and last edges."""
    return relay.PageInfo(
        has_next_page=page.has_next,
        has_previous_page=page.has_previous,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
