"""Described argument types shared by the resolvers (every argument of the schema carries a description)."""

from __future__ import annotations

from typing import Annotated, Optional

import strawberry

First = Annotated[
    Optional[int],
    strawberry.argument(description="Page forward: the first n items (0..100; default 20). Not with `last`."),
]
After = Annotated[
    Optional[str],
    strawberry.argument(description="Return the items after this cursor (a previous page's pageInfo.endCursor)."),
]
Last = Annotated[
    Optional[int],
    strawberry.argument(
        description="Page backward: the last n items (0..100; default 20 when only `before` is given). Not with `first`."
    ),
]
Before = Annotated[
    Optional[str],
    strawberry.argument(description="Return the items before this cursor (a later page's pageInfo.startCursor)."),
]
NodeId = Annotated[strawberry.ID, strawberry.argument(description="A global id, as an `id` field returned it.")]
EventsAfter = Annotated[
    Optional[int], strawberry.argument(description="Only events with a sequence number above this one.")
]
