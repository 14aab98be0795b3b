"""Described argument types shared by the resolvers (every argument of the schema carries a description)."""

from __future__ import annotations

from typing import Annotated, Optional

import strawberry

First = Annotated[Optional[int], strawberry.argument(description="Page size, 0..100 (default 20).")]
After = Annotated[Optional[str], strawberry.argument(
    description="Return the items after this cursor (a previous page's pageInfo.endCursor).")]
NodeId = Annotated[strawberry.ID, strawberry.argument(description="A global id, as an `id` field returned it.")]
EventsAfter = Annotated[Optional[int], strawberry.argument(
    description="Only events with a sequence number above this one.")]

