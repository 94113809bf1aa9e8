"""The neutral judge: how much a result keeps the photo and how much it carries the painting.

The objective optimizes VGG features, so it cannot also grade its own results: a result can
score worse on it and look far better. The judge uses a network the objective never sees,
ImageNet AlexNet (the weights the project already resolves, with the LPIPS v0.1 linear layers
shipped beside them):

* content = LPIPS-AlexNet (Zhang et al. 2018, v0.1) between the photo at 256 px on its long
  side and the result resized to exactly that size: 0 for the photo itself.
* style = mean over relu1..relu5 of ||G(result) - G(painting)||_F / ||G(painting)||_F, with
  G = F F^T / (C H W), the painting resized so its long side equals the result's: 0 for the
  painting itself.

Lower is better for both; they pull against each other, so a result beats another only when it
is lower on both. Images are resized with Lanczos (PIL) as the reference numbers were.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from .errors import InputError
from .io.images import load_image, to_tensor
from .nets.networks import FeatureExtractor

JUDGE_LAYERS = ("relu1", "relu2", "relu3", "relu4", "relu5")
CONTENT_SIDE = 256  # LPIPS compares at this long side
# LPIPS's ScalingLayer: inputs in [-1, 1] are shifted and scaled per channel.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


@dataclass(frozen=True)
class Score:
    """The judge's two numbers for one result (lower is better for both)."""

    content: float
    style: float

    def beats(self, other: "Score") -> bool:
        """Better on both numbers."""
        return self.content < other.content and self.style < other.style


# The smallest side on which AlexNet's relu5 has a pixel (its 11x11 stride-4 stem, then two 3x3
# stride-2 poolings; measured): smaller images cannot be judged.
JUDGE_MINIMUM = 31


@functools.lru_cache(maxsize=2)
def _judge(weights: str | None = None) -> tuple[FeatureExtractor, list[torch.Tensor]]:
    """AlexNet with ImageNet weights on the CPU, and the five LPIPS linear layers (1x1 kernels)."""
    from .nets.weights import load_state_dict, lpips_layers

    state = load_state_dict("alexnet", weights)
    if any(f"lpips.lin{k}.weight" not in state for k in range(5)):
        state.update(lpips_layers("alexnet"))  # e.g. torchvision's AlexNet file has none
    lins = [state[f"lpips.lin{k}.weight"] for k in range(5)]
    net = FeatureExtractor("alexnet", "max")
    net.features.load_state_dict({k[len("features."):]: v for k, v in state.items()
                                  if k.startswith("features.")})
    return net, [w.float() for w in lins]


def _features(net: FeatureExtractor, x: torch.Tensor) -> list[torch.Tensor]:
    """relu1..relu5 of `x`, already in the network's input space (no ImageNet normalization)."""
    out, wanted = [], set(JUDGE_LAYERS)
    for name, module in zip(net.layer_names, net.features):
        x = module(x)
        if name in wanted:
            out.append(x)
            if len(out) == len(JUDGE_LAYERS):
                break
    return out


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.LANCZOS)


def _long_side(image: Image.Image, side: int) -> tuple[int, int]:
    w, h = image.size
    scale = side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def content_distance(photo: Image.Image, result: Image.Image, weights: str | None = None) -> float:
    """LPIPS-AlexNet v0.1 between the photo at 256 px long side and the result at that size."""
    net, lins = _judge(weights)
    size = _long_side(photo, CONTENT_SIDE)
    shift = torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1)
    scale = torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1)
    pair = torch.cat([to_tensor(_resized(photo, size)), to_tensor(_resized(result, size))])
    with torch.no_grad():
        feats = _features(net, (pair * 2 - 1 - shift) / scale)
        total = 0.0
        for f, lin in zip(feats, lins):
            f = f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)  # unit length over channels
            diff = (f[:1] - f[1:]).pow(2)
            total += torch.nn.functional.conv2d(diff, lin).mean().item()
    return total


def _grams(net: FeatureExtractor, image: Image.Image) -> list[torch.Tensor]:
    x = (to_tensor(image) - net.mean) / net.std
    grams = []
    for f in _features(net, x):
        c = f.shape[1]
        flat = f.reshape(c, -1).double()
        grams.append(flat @ flat.T / flat.numel())
    return grams


def style_distance(painting: Image.Image, result: Image.Image, weights: str | None = None) -> float:
    """Mean relative Gram distance over AlexNet relu1..relu5, the painting at the result's long side."""
    net, _ = _judge(weights)
    with torch.no_grad():
        ours = _grams(net, result)
        target = _grams(net, _resized(painting, _long_side(painting, max(result.size))))
    return sum(((g - a).norm() / a.norm()).item() for g, a in zip(ours, target)) / len(ours)


LAYOUT_CELLS = 8  # a layout correlation compares 8 x 8 box averages of luminance


def layout_correlation(a: Any, b: Any) -> float:
    """Pearson correlation of two images' luminance, each reduced to 8 x 8 box averages: how much
    of one image's arrangement the other repeats (a copy 1; a stationary texture against its
    painting near 0, |r| < 0.25 by chance over 64 cells). Neither judge number sees it."""
    cells = []
    for image in (load_image(a), load_image(b)):
        side = LAYOUT_CELLS * 8
        grey = to_tensor(image.convert("L").convert("RGB").resize((side, side), Image.BOX))[0, 0].double()
        cells.append(grey.view(LAYOUT_CELLS, 8, LAYOUT_CELLS, 8).mean((1, 3)).flatten())
    x, y = (c - c.mean() for c in cells)
    denominator = (x.norm() * y.norm()).item()
    return (x @ y).item() / denominator if denominator > 0 else 0.0


def score(content: Any, style: Any, result: Any, weights: str | None = None) -> Score:
    """The judge's numbers for `result` against the photo `content` and the painting `style`
    (each a path, PIL image, array or tensor)."""
    photo, painting, image = (load_image(x) for x in (content, style, result))
    for name, size in (("result", image.size), ("painting at the result's size",
                                                _long_side(painting, max(image.size))),
                       ("photo at the judge's size", _long_side(photo, CONTENT_SIDE))):
        if min(size) < JUDGE_MINIMUM:
            raise InputError(f"the {name} is {size[0]}x{size[1]} px: the judge needs at least "
                             f"{JUDGE_MINIMUM} px a side")
    return Score(content=round(content_distance(photo, image, weights), 6),
                 style=round(style_distance(painting, image, weights), 6))


def evaluate(content: Any, style: Any, *results: Any, weights: str | None = None) -> list[Score]:
    """`score` for each result against the same photo and painting."""
    if not results:
        raise InputError("name at least one result to evaluate")
    return [score(content, style, r, weights) for r in results]
