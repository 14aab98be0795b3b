"""Reads the lines of text in an image with RapidOCR (its ONNX models ship inside the wheel)."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from churns_gql.imaging import Box

if TYPE_CHECKING:
    from rapidocr import RapidOCR

# Detection runs on a copy scaled to this share of the longest side (within the bounds below): at 1024² text
# of 14 px and up is still found, and detection costs about a third of what it does at full size.
DETECT_SCALE = 0.625
DETECT_SIDE = 640
MAX_DETECT_SIDE = 1280
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
def _engine() -> RapidOCR:
    """The one OCR engine of this process; its models load on first use, from the installed package."""
    from rapidocr import RapidOCR  # imported late: it pulls in onnxruntime, which only text repair needs

    return RapidOCR(
        params={
            "Global.log_level": "error",
            # Marketing text is upright: the angle classifier would cost time and find nothing to turn.
            "Global.use_cls": False,
            "Det.limit_type": "max",
            "Det.limit_side_len": DETECT_SIDE,
            # One thread per call: onnxruntime's pool spins while it waits, so with other jobs or processes on
            # the same cores two threads burnt ~30% more CPU than one and were no faster (measured on 2 cores).
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )


def read_lines(bgr: np.ndarray) -> list[TextLine]:
    """The text lines of a BGR image, top to bottom, each with its axis-aligned box clipped to the image."""
    height, width = bgr.shape[:2]
    # One engine shared by worker threads: onnxruntime sessions are safe to share, the reader's lazy
    # loading and pre-processing state are not documented to be, so calls are serialised.
    side = int(min(MAX_DETECT_SIDE, max(DETECT_SIDE, DETECT_SCALE * max(height, width))))
    with _LOCK:
        engine = _engine()
        # The detector reads its size limit on every call; larger images get a larger one so small print is found.
        engine._load_det_model().limit_side_len = side
        # Typed as the union of every stage's output; the whole pipeline returns boxes, txts and scores.
        result: Any = engine(bgr)
    if result.boxes is None or result.txts is None or result.scores is None:
        return []
    lines: list[TextLine] = []
    for quad, text, score in zip(result.boxes, result.txts, result.scores, strict=False):
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
    return merge_words(sorted(lines, key=lambda line: (line.box[1], line.box[0])))


def merge_words(lines: list[TextLine]) -> list[TextLine]:
    """Pieces of one line that the detector split (a word set apart by a wide space) joined back, left to right."""
    merged: list[TextLine] = []
    for line in sorted(lines, key=lambda item: item.box[0]):
        for i, other in enumerate(merged):
            top, bottom = max(line.box[1], other.box[1]), min(line.box[3], other.box[3])
            same_row = bottom - top >= 0.6 * min(line.height, other.height)
            similar_size = 0.5 <= line.height / max(1, other.height) <= 2.0
            gap = line.box[0] - other.box[2]
            if same_row and similar_size and -0.5 * other.height <= gap <= 1.2 * max(line.height, other.height):
                box = (
                    other.box[0],
                    min(line.box[1], other.box[1]),
                    max(line.box[2], other.box[2]),
                    max(line.box[3], other.box[3]),
                )
                merged[i] = TextLine(f"{other.text} {line.text}", box, min(line.score, other.score))
                break
        else:
            merged.append(line)
    return sorted(merged, key=lambda line: (line.box[1], line.box[0]))


def warm_up() -> None:
    """Load the OCR models now (about a second) so the first TEXT repair does not pay for it; call it off the
    event loop, e.g. in a thread when a worker starts."""
    from PIL import Image, ImageDraw

    from churns_gql.providers.offline.fonts import font

    sample = Image.new("RGB", (160, 48), "white")
    ImageDraw.Draw(sample).text((8, 8), "SALE", font=font(28), fill="black")
    # A word, not a blank: the recogniser's model is loaded only once the detector has found a line.
    read_lines(np.ascontiguousarray(np.asarray(sample)[:, :, ::-1]))
