"""The one rectangle type (fractions of an image) and pixel boxes: plain data, no image libraries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Rect:
    """A rectangle in fractions (0..1) of an image's width and height, origin top-left."""

    x: float
    y: float
    width: float
    height: float

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> Rect:
        """The rectangle of a request's or a stored mask's {x, y, width, height} mapping."""
        return cls(float(data["x"]), float(data["y"]), float(data["width"]), float(data["height"]))

    def as_dict(self) -> dict[str, float]:
        """The {x, y, width, height} mapping stored in refinements.mask."""
        return asdict(self)

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The rectangle as a (left, top, right, bottom) pixel box inside a width×height image."""
        left = max(0, min(width, round(self.x * width)))
        top = max(0, min(height, round(self.y * height)))
        right = max(left, min(width, round((self.x + self.width) * width)))
        bottom = max(top, min(height, round((self.y + self.height) * height)))
        return left, top, right, bottom


Box = tuple[int, int, int, int]
"""A (left, top, right, bottom) pixel box."""
