"""Where a run starts (white noise, the photo, the photo in the painting's palette, the painting,
or an image of one's own) and how images move between a pyramid's scales."""

from __future__ import annotations

import torch
from PIL import Image

from ..errors import InputError
from ..io.images import to_tensor
from ..names import INITS  # noqa: F401 (re-exported)
from ..nets.networks import CAFFE_MEAN_BGR, CAFFE_RANGE, IMAGENET_MEAN
from . import colors

NOISE_STD = 0.05
# The "blobs" start (textures' default, not in the paper): this many blobs across the long side.
# docs/normalization.md, "Textures that are textures".
BLOBS_ACROSS = 8
# Starts that hold no picture: a pyramid from white noise's coarse size, each finer scale the
# coarser result upsampled (next_scale_start).
PICTURELESS = ("noise", "blobs")
DETAIL_NOISE_STD = 0.03  # white noise added where a transfer's scale is upsampled: next_scale_start


def output_size(image: Image.Image, size: int) -> tuple[int, int]:
    """(width, height) with the long side `size` and the aspect ratio of `image`."""
    w, h = image.size
    scale = size / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def resize(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """PIL image to a 1x3xHxW tensor of exactly `size` = (width, height)."""
    if image.size != size:
        image = image.resize(size, Image.LANCZOS)
    return to_tensor(image)


def upsample(image: torch.Tensor, size: tuple[int, int], wrap: bool = False) -> torch.Tensor:
    """A tensor to `size` = (width, height), bicubic, kept in [0, 1]. With `wrap` the image is
    periodic: the middle of its 3x3 tiling, resized 3x3 times, is exactly that, seam included."""
    if wrap:
        width, height = size
        tiled = upsample(image.repeat(1, 1, 3, 3), (3 * width, 3 * height))
        return tiled[..., height:2 * height, width:2 * width].contiguous()
    return torch.nn.functional.interpolate(image, size=(size[1], size[0]), mode="bicubic",
                                           align_corners=False).clamp(0, 1)


def downsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return torch.nn.functional.interpolate(image, size=(size[1], size[0]), mode="bilinear",
                                           align_corners=False, antialias=True)


def start_image(init: str | Image.Image, size: tuple[int, int],
                content: list[tuple[Image.Image, float]] | None,
                style: list[tuple[Image.Image, float]] | None,
                generator: torch.Generator) -> torch.Tensor:
    """The start of a run at `size`: `init` names one of INITS, or is an image."""
    width, height = size
    if isinstance(init, Image.Image):
        return resize(init, size)
    if init == "noise":
        # White noise of small amplitude (NOISE_STD, as jcjohnson/neural-style) around the
        # painting's mean colour, else ImageNet's. docs/normalization.md, "Textures from noise".
        mean = (to_tensor(style[0][0]).mean((2, 3), keepdim=True) if style
                else torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        return (mean + NOISE_STD * torch.randn(1, 3, height, width, generator=generator)).clamp(0, 1)
    if init == "blobs":
        if not style:
            raise InputError("--init blobs needs a style image")
        return colour_blobs(style[0][0], size, generator)
    if init == "neural-style":
        # neural-style's -init random: randn x 0.001 in Caffe's units, mean pixel subtracted, so
        # the mean pixel itself, all but flat (its noise is 4e-6 here); the gradient paints it.
        mean = torch.tensor(CAFFE_MEAN_BGR).flip(0).view(1, 3, 1, 1) / CAFFE_RANGE
        return mean + 0.001 / CAFFE_RANGE * torch.randn(1, 3, height, width, generator=generator)
    if init in ("content", "palette"):
        if not content:
            raise InputError(f"--init {init} needs a content image")
        if init == "palette" and style:
            # The photo recoloured to the painting's whole colour distribution (not in the
            # paper): L-BFGS does not find the palette from the photo's colours. docs/normalization.md.
            photo = content[0][0]
            photo = photo if photo.size == size else photo.resize(size, Image.LANCZOS)
            return resize(colors.match_distribution(photo, style[0][0]), size)
        return resize(content[0][0], size)
    if init == "style":
        if not style:
            raise InputError("--init style needs a style image")
        return resize(style[0][0], size)
    raise InputError(f"unknown init '{init}': use {', '.join(INITS)} or an image path")


def colour_blobs(painting: Image.Image, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """Smooth random blobs in the painting's colours: uniform noise on a grid of BLOBS_ACROSS
    cells along the long side, upsampled periodically, recoloured to the painting's colour
    distribution. The run paints its strokes over a layout that is random, not the painting's."""
    width, height = size
    grid = [max(2, round(BLOBS_ACROSS * side / max(size))) for side in (height, width)]
    field = upsample(torch.rand(1, 3, *grid, generator=generator), size, wrap=True)
    pixels = (field[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    return to_tensor(colors.match_distribution(Image.fromarray(pixels, "RGB"), painting))


def next_scale_start(image: torch.Tensor, size: tuple[int, int], previous: tuple[int, int],
                     init: str | Image.Image, content, style, generator: torch.Generator,
                     wrap: bool = False) -> torch.Tensor:
    """The previous scale's result, upsampled to `size` (periodically with `wrap`): the next
    scale's start."""
    image = upsample(image.cpu(), size, wrap)
    if isinstance(init, str) and init == "palette":
        # A little white noise (DETAIL_NOISE_STD) in the octave the upsampled result lacks:
        # L-BFGS paints strokes there sooner. docs/normalization.md, "Detail noise".
        noise = torch.randn(image.shape, generator=generator)
        return (image + DETAIL_NOISE_STD * noise).clamp(0, 1)
    if isinstance(init, str) and init in PICTURELESS:
        return image
    # The start image's detail the coarser scale could not hold (a Laplacian pyramid level),
    # not from the palette start (its detail is painted over again): docs/normalization.md.
    detail = start_image(init, size, content, style, generator)
    return (image + detail - upsample(downsample(detail, previous), size)).clamp(0, 1)
