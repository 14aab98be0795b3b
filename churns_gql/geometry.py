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
        """The rectangle as a (left, top, right, bottom) pixel box inside a width×height image.

        A rectangle with an area covers at least the pixel it lies in: validation accepts sides down to
        1 % of the image, which round to nothing on an image under 50 px, and the job then failed.
        """
        left, right = _span(self.x, self.width, width)
        top, bottom = _span(self.y, self.height, height)
        return left, top, right, bottom


def _span(start: float, length: float, size: int) -> tuple[int, int]:
    """The pixel range [low, high) of one side, at least one pixel long when `length` is positive."""
    low = max(0, min(size, round(start * size)))
    high = max(low, min(size, round((start + length) * size)))
    # Only a rectangle that overlaps the image grows to a pixel; one wholly outside still selects nothing.
    if high == low and length > 0 and size > 0 and start < 1.0 and start + length > 0.0:
        low = min(low, size - 1)  # a sliver on the far edge is the last pixel
        high = low + 1
    return low, high


Box = tuple[int, int, int, int]
"""A (left, top, right, bottom) pixel box."""
