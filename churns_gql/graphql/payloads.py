"""What the mutations return: the affected object, or the user errors saying why there is none."""

from __future__ import annotations

from typing import Optional

import strawberry

from churns_gql.graphql.types import Refinement, Run, UserError


@strawberry.type(description="Result of createRun and importRun.")
class RunPayload:
    """The run, or why there is none."""

    run: Optional[Run] = strawberry.field(description="The run, when the input was accepted.")
    user_errors: list[UserError] = strawberry.field(description="Problems with the input; empty on success.")


@strawberry.type(description="Result of refineImage.")
class RefineImagePayload:
    """The queued refinement, or why there is none."""

    refinement: Optional[Refinement] = strawberry.field(description="The refinement, when accepted.")
    user_errors: list[UserError] = strawberry.field(description="Problems with the input; empty on success.")


@strawberry.type(description="Result of cancelRefinement.")
class CancelRefinementPayload:
    """The cancelled refinement, or why it was not cancelled."""

    refinement: Optional[Refinement] = strawberry.field(description="The refinement after the request.")
    user_errors: list[UserError] = strawberry.field(description="Problems; empty on success.")


@strawberry.type(description="Result of cancelRun.")
class CancelRunPayload:
    """The cancelled run, or why it was not cancelled."""

    run: Optional[Run] = strawberry.field(description="The run after the request.")
    user_errors: list[UserError] = strawberry.field(description="Problems; empty on success.")
