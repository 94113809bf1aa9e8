"""Gatys et al.'s objective (Eq. 7) from named layers and target images, and one `synthesize` call.

Every mode is a configuration of this: reconstruct = content terms only, texture = style
terms only, transfer = both. Targets are computed once per run (once per scale when a
pyramid is used); each evaluation runs the network once, up to the deepest layer needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .errors import InputError
from .losses import ContentLoss, StyleLoss, TVLoss, gram_matrix
from .nets import FeatureExtractor

DEFAULT_CONTENT_LAYERS = "conv4_2"
DEFAULT_STYLE_LAYERS = "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1"
DEFAULT_RATIO = 1e-3
# alpha/beta is given in the paper's units. The paper's Eq. 1 is a sum over the N_l*M_l entries
# of conv4_2 at its image size in Caffe's 0..255 VGG; ours is a mean on torchvision's [0, 1]
# normalized VGG. This constant, measured once (see docs/normalization.md), maps one onto the
# other so that alpha/beta = 1e-3 gives the balance of the paper's Fig. 2.
CONTENT_SCALE = 5e3


def parse_layers(spec: str | Sequence[str] | dict[str, float]) -> dict[str, float]:
    """`"conv1_1:0.2,conv2_1"` (or a list / dict) to {layer: weight}; unweighted get 1/count (w_l)."""
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        names = spec.split(",") if isinstance(spec, str) else list(spec)
        items = []
        for entry in (n.strip() for n in names):
            if not entry:
                continue
            name, _, weight = entry.partition(":")
            try:
                items.append((name.strip(), float(weight) if weight else None))
            except ValueError:
                raise InputError(f"bad layer weight in '{entry}': write name:number, e.g. conv1_1:0.2") from None
    if not items:
        raise InputError("no layers given: name at least one, e.g. conv4_2")
    default = 1.0 / len(items)
    layers = {}
    for name, weight in items:
        weight = default if weight is None else weight
        if not (math.isfinite(weight) and weight >= 0):
            raise InputError(f"layer weight for {name} must be a finite number >= 0, got {weight}")
        layers[name] = weight
    return layers


def weighted(items, what: str) -> list[tuple[torch.Tensor, float]]:
    """Normalize [(image, weight), ...] so the weights sum to 1 (Phon-Amnuaisuk Eq. 5)."""
    total = sum(w for _, w in items)
    for _, w in items:
        if not (math.isfinite(w) and w >= 0):
            raise InputError(f"{what} weights must be finite numbers >= 0, got {w}")
    if total <= 0:
        raise InputError(f"{what} weights must not all be zero")
    return [(image, w / total) for image, w in items]


@dataclass
class Weights:
    """alpha and beta of Eq. 7 and the TV weight, from a ratio or explicit weights."""

    content: float
    style: float
    tv: float = 0.0

    @classmethod
    def from_options(cls, ratio: float | None = DEFAULT_RATIO, content_weight: float | None = None,
                     style_weight: float | None = None, tv_weight: float = 0.0) -> "Weights":
        for name, value in (("ratio", ratio), ("content weight", content_weight),
                            ("style weight", style_weight), ("tv weight", tv_weight)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InputError(f"{name} must be a finite number >= 0, got {value}")
        if content_weight is not None or style_weight is not None:
            alpha = 1.0 if content_weight is None else content_weight
            beta = 1.0 if style_weight is None else style_weight
        else:
            if ratio is None or ratio <= 0:
                raise InputError("ratio (alpha/beta) must be > 0: use --style-weight 0 or "
                                 "--content-weight 0 to switch a term off")
            alpha, beta = ratio, 1.0
        return cls(content=alpha, style=beta, tv=tv_weight)


class GatysObjective:
    """alpha * sum_l w_l L_content(l) + beta * sum_l w_l E_l + tv * TV  (Eq. 1, 4, 5, 7)."""

    def __init__(self, net: FeatureExtractor, weights: Weights,
                 content_targets: dict[str, tuple[float, torch.Tensor]] | None = None,
                 style_targets: dict[str, tuple[float, torch.Tensor]] | None = None):
        self.net, self.weights = net, weights
        self.content = {name: (w, ContentLoss(t)) for name, (w, t) in (content_targets or {}).items()}
        self.style = {name: (w, StyleLoss(g)) for name, (w, g) in (style_targets or {}).items()}
        self.tv = TVLoss()
        self.layers = sorted(set(self.content) | set(self.style), key=net.layer_names.index)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        features = self.net(image, self.layers)
        parts: dict[str, float] = {}
        total = image.new_zeros(())
        content = image.new_zeros(())
        for name, (w, loss) in self.content.items():
            value = loss(features[name])
            parts[f"content/{name}"] = value.item()
            content = content + w * value
        style = image.new_zeros(())
        for name, (w, loss) in self.style.items():
            value = loss(features[name])
            parts[f"style/{name}"] = value.item()
            style = style + w * value
        if self.content:
            total = total + self.weights.content * CONTENT_SCALE * content
            parts["content"] = content.item()
        if self.style:
            total = total + self.weights.style * style
            parts["style"] = style.item()
        if self.weights.tv:
            tv = self.tv(image)
            total = total + self.weights.tv * tv
            parts["tv"] = tv.item()
        return total, parts


def content_targets(net: FeatureExtractor, images: list[tuple[torch.Tensor, float]],
                    layers: dict[str, float]) -> dict[str, tuple[float, torch.Tensor]]:
    """Per layer: (w_l, sum_i w_i P_i) — several images blend their activations (weighted inversion)."""
    net.check_layers(layers)
    size = images[0][0].shape[-2:]
    targets = {name: 0.0 for name in layers}
    with torch.no_grad():
        for image, w in images:
            if image.shape[-2:] != size:
                image = torch.nn.functional.interpolate(image, size=size, mode="bilinear",
                                                        align_corners=False, antialias=True)
            features = net(image, layers)
            for name in layers:
                targets[name] = targets[name] + w * features[name]
    return {name: (layers[name], targets[name]) for name in layers}


def style_targets(net: FeatureExtractor, images: list[tuple[torch.Tensor, float]],
                  layers: dict[str, float]) -> dict[str, tuple[float, torch.Tensor]]:
    """Per layer: (w_l, sum_i w_i A_i/M_i) — several styles blend their Gram matrices."""
    net.check_layers(layers)
    targets = {name: 0.0 for name in layers}
    with torch.no_grad():
        for image, w in images:
            features = net(image, layers)
            for name in layers:
                targets[name] = targets[name] + w * gram_matrix(features[name])
    return {name: (layers[name], targets[name]) for name in layers}
