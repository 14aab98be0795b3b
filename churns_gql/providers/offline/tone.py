"""Tonal and colour edits in CIELAB: light, contrast, chroma, warmth, tints, detail and vignette."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from churns_gql.offline_rules.intents import COLOURS, TONAL_INTENTS, Edit

Lab = np.ndarray  # float32 H×W×3: L in 0..100, a and b roughly -128..127 (OpenCV's float convention)

# The amount each edit uses when the prompt gives none, at creativity 2; creativity scales it.
DEFAULT_AMOUNT: dict[str, float] = {
    "brighter": 0.15,
    "darker": 0.15,
    "more contrast": 0.2,
    "less contrast": 0.2,
    "more saturated": 0.3,
    "less saturated": 0.35,
    "warmer": 0.25,
    "cooler": 0.25,
    "black and white": 1.0,
    "sepia": 1.0,
    "vignette": 0.35,
    "denoise": 0.5,
    "blur": 0.5,
    "sharpen": 0.6,
    **{f"tint {n}": 0.3 for n in COLOURS},
    **{f"less {n}": 0.3 for n in COLOURS},
}
# Edits whose amount is a proportion of a full effect; creativity must not push them past 100 %.
_CAPPED = frozenset({"black and white", "sepia"})


def to_lab(rgb: np.ndarray) -> Lab:
    """An RGB uint8 array as float32 LAB."""
    return cv2.cvtColor(rgb.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB)


def from_lab(lab: Lab) -> np.ndarray:
    """A float32 LAB array as RGB uint8 (out-of-gamut colours clipped)."""
    rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _colour_ab(rgb: tuple[int, int, int]) -> np.ndarray:
    """The unit a*b* direction of an RGB colour."""
    ab = to_lab(np.array([[rgb]], np.uint8))[0, 0, 1:]
    return ab / max(1e-6, float(np.hypot(*ab)))


def _lift(lab: Lab, a: float) -> Lab:
    """Brighter by about `a` (0.2 = +20 % on the mid-tones) with white kept white."""
    x = lab[..., 0] / 100.0
    # x(1+a)/(1+a x^4) lifts shadows and mid-tones by ~a and bends smoothly into white, so nothing clips.
    lab[..., 0] = 100.0 * x * (1.0 + a) / (1.0 + a * x**4)
    return lab


def _lower(lab: Lab, a: float) -> Lab:
    """Darker by `a` (0.2 = L* × 0.8)."""
    lab[..., 0] *= max(0.0, 1.0 - a)
    return lab


def _contrast(lab: Lab, a: float) -> Lab:
    """Lightness spread around its mean scaled by 1+a (a < 0 flattens), softly kept inside 0..100."""
    light = lab[..., 0]
    mean = float(light.mean())
    stretched = mean + (light - mean) * (1.0 + a)
    # Tanh shoulders past 5 and 95 keep stretched shadows and highlights from clipping into flat patches.
    high, low = stretched > 95.0, stretched < 5.0
    stretched[high] = 95.0 + 5.0 * np.tanh((stretched[high] - 95.0) / 5.0)
    stretched[low] = 5.0 - 5.0 * np.tanh((5.0 - stretched[low]) / 5.0)
    lab[..., 0] = stretched
    return lab


def _chroma(lab: Lab, factor: float) -> Lab:
    """Colourfulness (a*, b*) scaled by `factor`."""
    lab[..., 1:] *= factor
    return lab


def _shift(lab: Lab, direction: np.ndarray, amount: float) -> Lab:
    """Every colour moved `amount` × 40 units along an a*b* direction, less so in deep shadow and white."""
    light = lab[..., 0:1] / 100.0
    # Shadows and highlights take less of a cast, as they do on film; mid-tones take all of it.
    weight = np.clip(4.0 * light * (1.0 - light), 0.25, 1.0)
    lab[..., 1:] += (40.0 * amount) * weight * direction.reshape(1, 1, 2).astype(np.float32)
    return lab


def _sepia(lab: Lab, a: float) -> Lab:
    """Monochrome toned brown, mixed in by `a`."""
    toned = lab.copy()
    # A yellow-brown (b* ≈ 3.3 a*) that fades towards the highlights, as on toned prints.
    toned[..., 2] = 22.0 * np.clip(1.25 - lab[..., 0] / 100.0, 0.35, 1.0)
    toned[..., 1] = 0.3 * toned[..., 2]
    return lab * (1.0 - a) + toned * a


def _unsharp(lab: Lab, a: float) -> Lab:
    """Lightness detail amplified by `a` × 1.5 around a blur of ~0.2 % of the image's size."""
    sigma = max(1.0, 0.002 * max(lab.shape[:2]))
    light = lab[..., 0]
    lab[..., 0] = np.clip(light + 1.5 * a * (light - cv2.GaussianBlur(light, (0, 0), sigma)), 0.0, 100.0)
    return lab


def _blur(lab: Lab, a: float) -> Lab:
    """A Gaussian blur whose radius is `a` × 1 % of the image's size."""
    sigma = max(0.6, a * 0.01 * max(lab.shape[:2]))
    return cv2.GaussianBlur(lab, (0, 0), sigma)


def _vignette(lab: Lab, a: float) -> Lab:
    """Corners darkened by up to `a`, smoothly from the centre out."""
    height, width = lab.shape[:2]
    y = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    r = np.clip((np.sqrt(x * x + y * y) - 0.45) / 0.97, 0.0, 1.0)
    lab[..., 0] *= 1.0 - a * (r * r * (3.0 - 2.0 * r))
    return lab


_LAB_OPS: dict[str, Callable[[Lab, float], Lab]] = {
    "black and white": lambda lab, a: _chroma(lab, 1.0 - a),
    "sepia": _sepia,
    "brighter": _lift,
    "darker": _lower,
    "more contrast": _contrast,
    "less contrast": lambda lab, a: _contrast(lab, -min(a, 0.9)),
    "more saturated": lambda lab, a: _chroma(lab, 1.0 + a),
    "less saturated": lambda lab, a: _chroma(lab, max(0.0, 1.0 - a)),
    "warmer": lambda lab, a: _shift(lab, np.array([0.15, 1.0]) / np.hypot(0.15, 1.0), a),
    "cooler": lambda lab, a: _shift(lab, np.array([-0.1, -1.0]) / np.hypot(0.1, 1.0), a),
    "blur": _blur,
    "sharpen": _unsharp,
    "vignette": _vignette,
}


def _towards(direction: np.ndarray) -> Callable[[np.ndarray, float], np.ndarray]:
    """The op that shifts a*b* along `direction` by the edit's amount."""
    return lambda lab, a: _shift(lab, direction, a)


for _name, _rgb in COLOURS.items():
    _LAB_OPS[f"tint {_name}"] = _towards(_colour_ab(_rgb))
    # Pulling towards the complement is what removes a colour cast.
    _LAB_OPS[f"less {_name}"] = _towards(-_colour_ab(_rgb))

_ORDER = {name: rank for rank, name in enumerate(TONAL_INTENTS)}


def amount_of(edit: Edit, strength: float) -> float:
    """How hard to apply an edit: the prompt's number as given, else the default scaled by creativity."""
    if edit.amount is not None:
        return edit.amount
    base = DEFAULT_AMOUNT[edit.name] * strength
    return min(base, 1.0) if edit.name in _CAPPED else base


def _denoise(rgb: np.ndarray, a: float) -> np.ndarray:
    """An edge-preserving (bilateral) smoothing whose reach grows with `a`."""
    sigma_colour = 10.0 + 50.0 * min(a, 1.0)
    return cv2.bilateralFilter(rgb, 7, sigma_colour, 3.0 + 3.0 * min(a, 1.0))


def apply_edits(rgb: np.ndarray, edits: Sequence[Edit], strength: float) -> np.ndarray:
    """An RGB uint8 array with the edits applied in a fixed order (noise, tone, colour, detail, vignette)."""
    ordered = sorted(edits, key=lambda e: _ORDER[e.name])
    out = rgb
    if ordered and ordered[0].name == "denoise":
        out = _denoise(out, amount_of(ordered.pop(0), strength))
    if not ordered:
        return out
    lab = to_lab(out)
    for edit in ordered:
        lab = _LAB_OPS[edit.name](lab, amount_of(edit, strength))
    return from_lab(lab)
