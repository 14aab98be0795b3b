"""Expected, user-correctable problems that services report to the GraphQL layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem with one input field; `code` is a UserErrorCode name."""

    field: tuple[str, ...] | None
    message: str
    code: str


class UserInputError(Exception):
    """Raised by a service when the input is wrong; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)

    @classmethod
    def one(cls, code: str, message: str, *field: str | int) -> UserInputError:
        """An error with a single problem at `field`."""
        return cls([Problem(tuple(str(f) for f in field) or None, message, code)])
