"""Reads the lines of text in an image with RapidOCR (its ONNX models ship inside the wheel)."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np

from churns_gql.imaging import Box

# Detection runs on a copy whose longest side is at most this: 1024² text lines of 16 px and up are still
# found, and detection costs a third of what it does at full size.
DETECT_SIDE = 640
# Lines read with less confidence than this are noise (texture, a logo's strokes).
MIN_SCORE = 0.5

_LOCK = threading.Lock()


@dataclass(frozen=True)
class TextLine:
    """One line of text OCR found: what it reads, its pixel box and how sure the reader is."""

    text: str
    box: Box
    score: float

    @property
    def height(self) -> int:
        """The box's height in pixels."""
        return self.box[3] - self.box[1]


@functools.lru_cache(maxsize=1)
def _engine():  # type: ignore[no-untyped-def]
    """The one OCR engine of this process; its models load on first use, from the installed package."""
    from rapidocr import RapidOCR  # imported late: it pulls in onnxruntime, which only text repair needs

    return RapidOCR(
        params={
            "Global.log_level": "error",
            # Marketing text is upright: the angle classifier would cost time and find nothing to turn.
            "Global.use_cls": False,
            "Det.limit_type": "max",
            "Det.limit_side_len": DETECT_SIDE,
        }
    )


def read_lines(bgr: np.ndarray) -> list[TextLine]:
    """The text lines of a BGR image, top to bottom, each with its axis-aligned box clipped to the image."""
    height, width = bgr.shape[:2]
    # One engine shared by worker threads: onnxruntime sessions are safe to share, the reader's lazy
    # loading and pre-processing state are not documented to be, so calls are serialised.
    with _LOCK:
        result = _engine()(bgr)
    if result.boxes is None or result.txts is None or result.scores is None:
        return []
    lines: list[TextLine] = []
    for quad, text, score in zip(result.boxes, result.txts, result.scores):
        text = " ".join(str(text).split())
        if not text or float(score) < MIN_SCORE:
            continue
        xs, ys = np.asarray(quad)[:, 0], np.asarray(quad)[:, 1]
        box = (
            max(0, int(np.floor(xs.min()))),
            max(0, int(np.floor(ys.min()))),
            min(width, int(np.ceil(xs.max()))),
            min(height, int(np.ceil(ys.max()))),
        )
        if box[2] > box[0] and box[3] > box[1]:
            lines.append(TextLine(text=text, box=box, score=float(score)))
    return sorted(lines, key=lambda line: (line.box[1], line.box[0]))
