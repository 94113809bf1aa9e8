"""Region masks for spatial control: which style goes where (Gatys et al. 2017, §4).

A mask is an image whose dominant colours label regions. With k styles, its k brightest
colours map to the styles in the order given (the brightest to the first style); a (k+1)-th,
darkest colour marks a protected region that keeps the content photo. Each region becomes a
soft mask (a Gaussian-blurred indicator, the masks summing to 1), so styles meet without seams.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter

from ..errors import InputError
from ..io.images import open_image

MIN_SHARE = 0.005  # a colour covering less of the mask is noise (anti-aliasing, JPEG)


def region_masks(source: Any, styles: int, size: tuple[int, int], softness: float = 0.01
                 ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """([one 1x1xHxW soft mask per style], protected-region mask or None) at `size` (W, H)."""
    image = open_image(source)
    if abs(image.size[0] / image.size[1] - size[0] / size[1]) > 0.02:
        raise InputError(f"mask is {image.size[0]}x{image.size[1]} px but the content is "
                         f"{size[0]}x{size[1]}: make the mask the content's shape")
    image = image.resize(size, Image.NEAREST)
    pixels = np.asarray(image).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    dominant = colours[counts >= MIN_SHARE * len(pixels)]
    if len(dominant) not in (styles, styles + 1):
        raise InputError(f"mask has {len(dominant)} colours but there are {styles} styles: use one "
                         f"colour per style (brightest = first style), plus optionally a darkest "
                         f"colour for a region kept as content")
    dominant = sorted(dominant.tolist(), key=lambda c: -(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]))
    # Every pixel belongs to the nearest dominant colour (absorbs anti-aliased edges).
    distance = ((pixels[:, None, :].astype(np.int64) - np.array(dominant)[None]) ** 2).sum(-1)
    label = distance.argmin(1).reshape(size[1], size[0])
    radius = max(1.0, softness * max(size))
    soft = []
    for k in range(len(dominant)):
        indicator = Image.fromarray((label == k).astype(np.uint8) * 255, "L")
        soft.append(np.asarray(indicator.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255)
    total = np.maximum(np.sum(soft, axis=0), 1e-6)
    tensors = [torch.from_numpy(m / total)[None, None] for m in soft]
    protected = tensors[styles] if len(dominant) == styles + 1 else None
    return tensors[:styles], protected
