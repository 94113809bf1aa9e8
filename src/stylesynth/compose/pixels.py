"""Small helpers shared by the pixel-level models: array conversion, rounding, size limits."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import InputError

# Generated images are held in memory as float64 while they are computed, so
# cap their size: 16384 px a side and 40 Mpx in all (about 1 GB of float64 RGB).
MAX_SIDE = 16384
MAX_PIXELS = 40_000_000


def check_size(width: int, height: int, what: str = "image") -> None:
    """Raise InputError unless width x height is a sane size to generate."""
    if width < 1 or height < 1:
        raise InputError(f"{what} size must be at least 1x1, got {width}x{height}")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise InputError(
            f"{what} size {width}x{height} is too large "
            f"(at most {MAX_SIDE} px a side and {MAX_PIXELS:,} px in all)"
        )


def as_float_rgb(img) -> np.ndarray:
    """A PIL image or an array (H,W), (H,W,3) or (H,W,4) of 0..255 values → float64 (H,W,3)."""
    if isinstance(img, Image.Image):
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]  # drop alpha: these models work on opaque RGB
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InputError(f"expected an RGB image, got an array of shape {arr.shape}")
    return arr


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Round half up (floor(v + 0.5)) and clip to [0, 255], as uint8.

    Half up rather than np.rint's half-to-even, so that a blend landing on
    exactly x.5 always goes the same way whatever the parity of x.
    """
    return np.clip(np.floor(np.asarray(values, dtype=np.float64) + 0.5), 0, 255).astype(np.uint8)


def to_pil(arr: np.ndarray) -> Image.Image:
    """uint8 (H,W) or (H,W,3) array → RGB PIL image (grey is stacked to RGB)."""
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), "RGB")
