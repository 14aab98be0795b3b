"""Expected, user-correctable problems that services report to the GraphQL layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from churns_gql.error_codes import ErrorCode


@dataclass(frozen=True)
class Problem:
    """One problem with one input field; `code` is an ErrorCode (a code string is checked and converted)."""

    field: tuple[str, ...] | None
    message: str
    # Typed for callers as "a code or its name"; after __post_init__ it is always an ErrorCode.
    code: ErrorCode | str

    def __post_init__(self) -> None:
        # Services may still pass the code's string; an unknown one fails here, not in the GraphQL layer.
        object.__setattr__(self, "code", ErrorCode(self.code))


class UserInputError(Exception):
    """Raised by a service when the input is wrong; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)

    @classmethod
    def one(cls, code: ErrorCode | str, message: str, *field: str | int) -> UserInputError:
        """An error with a single problem at `field`."""
        return cls([Problem(tuple(str(f) for f in field) or None, message, code)])
