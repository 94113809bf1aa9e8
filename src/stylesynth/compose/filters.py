"""Convolution filters (paper §3.1, Eq. 1: X' ← K * X) and the pencil-sketch effect (Fig. 1).

Images are numpy arrays (H, W) or (H, W, C) of 0..255 values, or PIL images;
filters work on each channel on its own and return uint8 arrays clipped to [0, 255].
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .pixels import as_float_rgb, to_uint8

MAX_KERNEL_SIDE = 31

# Named kernels. "blur" is the 5x5 binomial (a close integer approximation of a
# Gaussian with sigma = 1); the others are the textbook 3x3 kernels.
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0])
KERNELS: dict[str, np.ndarray] = {
    "blur": np.outer(_BINOMIAL, _BINOMIAL) / 256.0,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
    # Laplacian: flat regions go to 0 (black), edges light up.
    "edges": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64),
    # Sums to 1, so flat regions keep their colour and edges look raised.
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64),
}

# What `stylesynth filter --kind` accepts: the kernels plus the two sketch effects.
FILTER_KINDS = (*KERNELS, "sketch", "sketch-color")


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """True 2-D convolution of each channel with `kernel`; float64 output of the input's shape.

    out[y, x] = Σ_{u,v} K[u, v] · I[y + cy − u, x + cx − v], with (cy, cx) the kernel
    centre: the kernel is flipped, unlike the correlation most "convolution" layers
    compute (the two agree for symmetric kernels such as blur, sharpen, edges).
    Pixels beyond the border repeat the nearest edge pixel (edge-replicate padding),
    so a constant image stays constant under any kernel that sums to 1.
    """
    img = np.asarray(image, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise InputError(f"kernel must be 2-D with odd sides, got shape {k.shape}")
    flat = img.ndim == 2
    if flat:
        img = img[:, :, None]
    kh, kw = k.shape
    ph, pw = kh // 2, kw // 2
    padded = np.pad(img, ((ph, ph), (pw, pw), (0, 0)), mode="edge")
    flipped = k[::-1, ::-1]
    h, w = img.shape[:2]
    out = np.zeros_like(img)
    # One shifted copy of the image per kernel tap: fast for the small kernels used here.
    for i in range(kh):
        for j in range(kw):
            if flipped[i, j] != 0:
                out += flipped[i, j] * padded[i : i + h, j : j + w]
    return out[:, :, 0] if flat else out


def parse_kernel(text: str) -> np.ndarray:
    """Parse "0,-1,0;-1,5,-1;0,-1,0" (rows split by ';', values by ',') into a float array.

    The kernel must be rectangular with odd sides of at most MAX_KERNEL_SIDE and
    hold finite numbers; anything else raises InputError naming the problem.
    """
    rows = [row.strip() for row in text.strip().strip(";").split(";")]
    if not rows or rows == [""]:
        raise InputError("kernel is empty: give rows of numbers like '0,-1,0;-1,5,-1;0,-1,0'")
    values: list[list[float]] = []
    for r, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row.split(",")]
        parsed = []
        for c in cells:
            try:
                v = float(c)
            except ValueError:
                raise InputError(f"kernel row {r}: {c!r} is not a number") from None
            if not math.isfinite(v):
                raise InputError(f"kernel row {r}: {c!r} is not a finite number")
            parsed.append(v)
        values.append(parsed)
    width = len(values[0])
    for r, row in enumerate(values, start=1):
        if len(row) != width:
            raise InputError(
                f"kernel row {r} has {len(row)} values but row 1 has {width}: rows must be the same length"
            )
    height = len(values)
    if height % 2 == 0 or width % 2 == 0:
        raise InputError(f"kernel is {height}x{width}: both sides must be odd so it has a centre pixel")
    if height > MAX_KERNEL_SIDE or width > MAX_KERNEL_SIDE:
        raise InputError(f"kernel is {height}x{width}: at most {MAX_KERNEL_SIDE} a side")
    return np.array(values, dtype=np.float64)


def filter_image(img, kernel: np.ndarray) -> np.ndarray:
    """Convolve an RGB image with `kernel` (Eq. 1); uint8 (H, W, 3), clipped and rounded half up."""
    return to_uint8(convolve(as_float_rgb(img), kernel))


def gaussian_kernel_1d(sigma: float) -> np.ndarray:
    """Normalised weights exp(−k²/2σ²) for k = −R..R, R = ceil(3σ): 99.7% of the mass."""
    if not (sigma > 0 and math.isfinite(sigma)):
        raise InputError(f"blur radius must be a positive number, got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-(k**2) / (2 * sigma**2))
    return w / w.sum()


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur as two 1-D convolutions (rows, then columns), edge-replicate padding."""
    g = gaussian_kernel_1d(sigma)
    return convolve(convolve(image, g[None, :]), g[:, None])


def color_dodge(base: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Colour dodge on 0..255 floats: base·255 / (255 − top), and 255 where top reaches 255."""
    room = 255.0 - top
    out = np.full_like(base, 255.0)
    np.divide(base * 255.0, room, out=out, where=room > 0)
    return np.minimum(out, 255.0)


def pencil_sketch(img, color: bool = False, blur_radius: float = 5.0) -> np.ndarray:
    """Pencil-sketch effect (paper Fig. 1, ref. [12]); uint8 (H, W) grey or (H, W, 3) colour.

    grey = 0.299 R + 0.587 G + 0.114 B (ITU-R 601, as PIL's "L"), kept as float;
    sketch = dodge(grey, blur(255 − grey)), blur a Gaussian of sigma `blur_radius` px.
    Flat areas dodge to white; only where the blurred negative differs from the
    grey value (edges) does a darker stroke remain. With color=True the same dodge
    runs on each RGB channel, which keeps the original hues in the strokes.
    """
    rgb = as_float_rgb(img)
    if color:
        base = rgb
    else:
        base = rgb @ np.array([0.299, 0.587, 0.114])
    return to_uint8(color_dodge(base, gaussian_blur(255.0 - base, blur_radius)))


def apply_filter(img, kind: str, blur_radius: float = 5.0) -> np.ndarray:
    """Apply a named filter (one of FILTER_KINDS) to an image; uint8 (H, W, 3) or (H, W)."""
    if kind == "sketch":
        return pencil_sketch(img, color=False, blur_radius=blur_radius)
    if kind == "sketch-color":
        return pencil_sketch(img, color=True, blur_radius=blur_radius)
    if kind not in KERNELS:
        raise InputError(f"unknown filter {kind!r}: choose from {', '.join(FILTER_KINDS)}")
    return filter_image(img, KERNELS[kind])
