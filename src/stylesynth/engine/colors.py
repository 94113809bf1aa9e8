"""Colour control for transfer (Gatys et al. 2017, "Controlling Perceptual Factors", §5).

* luminance: transfer on luminance only, then put the content's chrominance back (YCbCr);
* histogram: recolour the style image so its colour mean and covariance equal the content's,
  before the transfer (and the result once more after it, to undo the optimization's drift).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# ITU-R BT.601 full range, as in JPEG: Y = KR*R + KG*G + KB*B; Cb, Cr centred on 128.
_TO_YCC = np.array([[0.299, 0.587, 0.114],
                    [-0.168736, -0.331264, 0.5],
                    [0.5, -0.418688, -0.081312]])
_FROM_YCC = np.linalg.inv(_TO_YCC)


def to_ycbcr(image: Image.Image) -> np.ndarray:
    """RGB image -> float HxWx3 array of Y, Cb, Cr in 0..255 (no rounding)."""
    ycc = np.asarray(image, dtype=np.float64) @ _TO_YCC.T
    ycc[..., 1:] += 128.0
    return ycc


def from_ycbcr(ycc: np.ndarray) -> Image.Image:
    rgb = (ycc - np.array([0.0, 128.0, 128.0])) @ _FROM_YCC.T
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def luminance_image(image: Image.Image, like: Image.Image | None = None) -> Image.Image:
    """The luminance as a grey RGB image; with `like`, its mean and std matched to like's."""
    y = to_ycbcr(image)[..., 0]
    if like is not None:
        ref = to_ycbcr(like)[..., 0]
        y = (y - y.mean()) / max(y.std(), 1e-6) * ref.std() + ref.mean()
    grey = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey] * 3, axis=-1), "RGB")


def with_chrominance(result: Image.Image, content: Image.Image) -> Image.Image:
    """The luminance of `result` with the chrominance of `content` (resized to result's size).

    Where the combination leaves the RGB gamut, the luminance is moved (not the chroma) until
    it fits, so the chroma of the content is kept as exactly as 8-bit RGB allows."""
    if content.size != result.size:
        content = content.resize(result.size, Image.LANCZOS)
    ycc = to_ycbcr(content)
    ycc[..., 0] = to_ycbcr(result)[..., 0]
    chroma = (ycc - np.array([0.0, 128.0, 128.0])) @ _FROM_YCC.T - ycc[..., :1]  # RGB minus Y
    # R, G, B = Y + chroma_c must lie in [0, 255]: clamp Y into the interval that allows it.
    low = -chroma.min(axis=-1)
    high = 255.0 - chroma.max(axis=-1)
    ycc[..., 0] = np.clip(ycc[..., 0], low, np.maximum(low, high))
    return from_ycbcr(ycc)


def match_histogram(style: Image.Image, content: Image.Image) -> Image.Image:
    """Recolour `style` so its RGB mean and covariance equal `content`'s (a linear map
    x -> A (x - mu_s) + mu_c with A = C_c^1/2 C_s^-1/2, Gatys et al. 2017 Eq. 6)."""
    s = np.asarray(style, dtype=np.float64).reshape(-1, 3)
    c = np.asarray(content, dtype=np.float64).reshape(-1, 3)
    mu_s, mu_c = s.mean(0), c.mean(0)
    cov_s = np.cov(s, rowvar=False, bias=True) + 1e-3 * np.eye(3)  # bias: one pixel has 0, not NaN
    cov_c = np.cov(c, rowvar=False, bias=True) + 1e-3 * np.eye(3)
    transform = _sqrtm(cov_c) @ np.linalg.inv(_sqrtm(cov_s))
    out = (s - mu_s) @ transform.T + mu_c
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(
        style.size[1], style.size[0], 3), "RGB")


def match_distribution(style: Image.Image, content: Image.Image, rounds: int = 20) -> Image.Image:
    """Recolour `style` so that its colours are distributed as `content`'s (Pitie et al. 2005,
    iterative distribution transfer): each round matches the 1-D distributions along three
    random orthogonal directions of RGB space."""
    rng = np.random.default_rng(0)  # fixed: the same pair gives the same start
    s = np.asarray(style).reshape(-1, 3) / 255
    c = np.asarray(content).reshape(-1, 3)
    if len(c) > 2**16:  # a sample describes the distribution as well, at a fraction of the sorting
        c = c[rng.integers(0, len(c), 2**16)]
    c = c / 255
    quantiles = np.linspace(0, 1, len(s))
    c_quantiles = np.linspace(0, 1, len(c))
    for _ in range(rounds):
        rotation, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        ps, pc = s @ rotation, c @ rotation
        for axis in range(3):
            order = np.argsort(ps[:, axis], kind="stable")
            matched = np.interp(quantiles, c_quantiles, np.sort(pc[:, axis]))
            ps[order, axis] = matched
        s = ps @ rotation.T
    return Image.fromarray(np.clip(np.rint(s * 255), 0, 255).astype(np.uint8).reshape(
        style.size[1], style.size[0], 3), "RGB")


def mean_colour(image: Image.Image) -> np.ndarray:
    """The mean of each RGB channel, 0..255."""
    return np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(0)


def shift_mean(image: Image.Image, mean: np.ndarray) -> Image.Image:
    """`image` with each channel shifted by a constant so that its mean is `mean` (0..255), as
    far as the range allows (pixels that would leave it are clipped)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    shifted = Image.fromarray(np.clip(np.rint(pixels + (np.asarray(mean) - pixels.reshape(-1, 3).mean(0))),
                                      0, 255).astype(np.uint8), "RGB")
    shifted.info.update(image.info)
    return shifted


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T
