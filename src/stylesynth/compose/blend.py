"""Layer blending (paper §3.1, Eq. 2: X' ← α·X_i + (1 − α)·X_j).

A is the top layer and sets the output size; B is the base layer, resized to A.
Each mode first combines the layers per pixel on [0, 1] values,

    normal    M = A
    multiply  M = A·B
    screen    M = 1 − (1 − A)(1 − B)
    overlay   M = 2·A·B where B < 0.5, else 1 − 2(1 − A)(1 − B)   (B is the base)

then mixes the result with the base as Eq. 2 does: out = α·M + (1 − α)·B, so
mode "normal" is exactly Eq. 2, α = 1 gives the pure mode and α = 0 gives B.
The output is uint8, rounded half up: floor(255·out + 0.5), clipped to [0, 255].
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..errors import InputError
from .pixels import as_float_rgb, to_uint8

MODES = ("normal", "multiply", "screen", "overlay")


def _as_pil(img) -> Image.Image:
    if isinstance(img, Image.Image):
        return img
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def _resized(img, size: tuple[int, int], mode: str) -> Image.Image:
    """`img` as a PIL image of `mode` at `size` (width, height); untouched if already that size."""
    pil = _as_pil(img).convert(mode)
    if pil.size != size:
        pil = pil.resize(size, Image.Resampling.BICUBIC)
    return pil


def _combine(a: np.ndarray, b: np.ndarray, mode: str) -> np.ndarray:
    """The blend-mode formula, A on top of base B, on 0..255 floats.

    These are the [0, 1] formulas of the module docstring scaled by 255; working at
    that scale keeps mode "normal" exact (no /255·255 round trip before rounding).
    """
    if mode == "normal":
        return a
    if mode == "multiply":
        return a * b / 255.0
    if mode == "screen":
        return 255.0 - (255.0 - a) * (255.0 - b) / 255.0
    if mode == "overlay":
        return np.where(b < 127.5, 2.0 * a * b / 255.0, 255.0 - 2.0 * (255.0 - a) * (255.0 - b) / 255.0)
    raise InputError(f"unknown blend mode {mode!r}: choose from {', '.join(MODES)}")


def blend(a, b, alpha: float = 0.5, mode: str = "normal", mask=None) -> np.ndarray:
    """Blend image A over image B; uint8 (H, W, 3) at A's size.

    `a`, `b` and `mask` are PIL images or uint8 arrays. `mask`, when given, is
    converted to grey, resized to A, and replaces `alpha`: a mask value v gives
    α = v / 255 at that pixel (white shows A, black shows B).
    """
    if mode not in MODES:
        raise InputError(f"unknown blend mode {mode!r}: choose from {', '.join(MODES)}")
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise InputError(f"alpha must be a number in [0, 1], got {alpha!r}")
    top = as_float_rgb(a)
    size = (top.shape[1], top.shape[0])
    base = as_float_rgb(_resized(b, size, "RGB"))
    if mask is None:
        weight = alpha
    else:
        weight = np.asarray(_resized(mask, size, "L"), dtype=np.float64)[:, :, None] / 255.0
    out = weight * _combine(top, base, mode) + (1.0 - weight) * base
    return to_uint8(out)
