"""Gatys et al.'s objective (Eq. 7): named layers, loss weights, typed targets, and the sum.

reconstruct = content terms only, texture = style terms only, transfer = both. Targets are
computed once per scale; each evaluation runs the network once, up to the deepest layer needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .errors import InputError
from .localized import tiled_grams, tiled_maps
from .losses import (ContentLoss, GuidedStyleLoss, SquaredContentLoss, SquaredStyleLoss, SquaredTVLoss,
                     StyleLoss, TVLoss, gram_matrix)
from .nets import FeatureExtractor

# The paper's layers are Caffe blobs, whose ReLUs work in place: its "conv4_2" is our relu4_2.
DEFAULT_CONTENT_LAYERS = "relu4_2"
# The first three blocks carry the palette, the brush strokes and their arrangement; weighing
# them more than the deep ones (which Eq. 4 taken literally does the other way round) is what
# makes a result look painted. Every ReLU of blocks 1-4 takes part (the block's weight, 2:4:3:1:1,
# shared among them): the network is run through them anyway, and the extra Gram matrices cost
# about a tenth of an iteration. Block 2 (strokes a few pixels wide) weighs twice block 1: with
# the style term as a distance (losses.py) that lowered both judge numbers on the_scream and
# starry_night (2:3:3:1:1 and 2:5:3:1:1 did worse). Measured with the judge in docs/normalization.md.
DEFAULT_STYLE_LAYERS = ("relu1_1:0.0909,relu1_2:0.0909,relu2_1:0.1818,relu2_2:0.1818,relu3_1:0.0909,"
                        "relu3_2:0.0909,relu3_3:0.0909,relu4_1:0.0303,relu4_2:0.0303,relu4_3:0.0303,"
                        "relu5_1:0.0909")
# alpha/beta is given in the paper's units (its Fig. 2 uses 1e-3 and 1e-4; Fig. 3 spans 1e-5 ..
# 1e-2). Our terms are relative to their targets (losses.py), not the paper's sums over Caffe's
# 0..255 VGG; CONTENT_SCALE maps one onto the other so that Fig. 3's range spans what it does in
# the paper: from white noise, 1e-2 shows the photo with a hint of the painting and 1e-5 is nearly
# pure texture (`figure grid`); from the default start, 1e-2 is the photo with a faint hint, 1e-3
# mildly painted, 1e-4 and below strongly (docs/normalization.md). At 10 (before) the content term
# was too weak to matter below 1e-4: the judge gave 1e-4 and 1e-5 the same numbers and half of the
# web's strength slider did nothing. The default, 3e-4 (the content term 0.06 x the style's), was
# chosen with the judge: a content term that bites keeps the photo's layout while the style goes
# as far, so a longer run (`quality`) paints more without losing the buildings; at 1e-5 the layout
# was held only by stopping early (docs/normalization.md). 200 since the style term became a
# distance (its square root, which pushes harder as it falls): at 100 the same ratio let
# starry_night's content go past the anchor's.
DEFAULT_RATIO = 3e-4
CONTENT_SCALE = 200.0

Extra = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]


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


def normalize_blend(items, what: str) -> list[tuple[torch.Tensor, float]]:
    """[(image, blend weight), ...] with the weights scaled to sum to 1 (Phon-Amnuaisuk Eq. 5)."""
    total = sum(w for _, w in items)
    for _, w in items:
        if not (math.isfinite(w) and w >= 0):
            raise InputError(f"{what} weights must be finite numbers >= 0, got {w}")
    if total <= 0:
        raise InputError(f"{what} weights must not all be zero")
    return [(image, w / total) for image, w in items]


@dataclass
class LossWeights:
    """alpha and beta of Eq. 7 and the TV weight, from a ratio or explicit weights."""

    content: float
    style: float
    tv: float = 0.0

    @classmethod
    def from_options(cls, ratio: float | None = DEFAULT_RATIO, content_weight: float | None = None,
                     style_weight: float | None = None, tv_weight: float = 0.0) -> "LossWeights":
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


Weights = LossWeights  # the name of the Python API before 0.2


@dataclass(frozen=True)
class LossForm:
    """Which terms Eq. 7 is made of (losses.py), and the factor the content weight is in."""

    content: type
    style: type
    tv: type
    content_scale: float
    guided: bool  # region masks (GuidedStyleLoss) are defined for this form


# The engine's relative terms; jcjohnson/neural-style's squared errors (the `classic` preset),
# whose weights are neural-style's own (content 5, style 100, TV 1e-3).
RELATIVE = LossForm(ContentLoss, StyleLoss, TVLoss, CONTENT_SCALE, guided=True)
SQUARED = LossForm(SquaredContentLoss, SquaredStyleLoss, SquaredTVLoss, 1.0, guided=False)


class LayerTarget(NamedTuple):
    """What one layer's term matches: its weight w_l and the target (activations or a Gram matrix)."""

    weight: float
    value: torch.Tensor


Targets = dict[str, LayerTarget]


@dataclass
class Region:
    """A part of the image (a soft 1x1xHxW mask) that matches its own style targets."""

    mask: torch.Tensor
    targets: Targets


class GatysObjective:
    """alpha * sum_l w_l L_content(l) + beta * sum_l w_l E_l + tv * TV  (Eq. 1, 4, 5, 7)."""

    def __init__(self, net: FeatureExtractor, loss_weights: LossWeights,
                 content_targets: Targets | None = None, style_targets: Targets | None = None,
                 regions: list[Region] | None = None, extra: Extra | None = None, *,
                 checkpoint_until: str | None = None, dtype: torch.dtype | None = None,
                 form: LossForm = RELATIVE):
        """`regions`: each matches its own style (guided Gram matrices) instead of one style
        everywhere. `extra`: a further term, image -> (weighted scalar tensor, {name: value}),
        added as it is (video's temporal loss). `checkpoint_until`: see FeatureExtractor.forward;
        `dtype`: the convolutions' precision (None: float32); `form`: the terms (RELATIVE, SQUARED)."""
        if regions and not form.guided:
            raise InputError("region masks are not part of the classic recipe: use another preset")
        self.net, self.loss_weights, self.extra, self.form = net, loss_weights, extra, form
        self.checkpoint_until, self.dtype = checkpoint_until, dtype
        self.content = {name: (w, form.content(t)) for name, (w, t) in (content_targets or {}).items()}
        self.style = {name: (w, form.style(g)) for name, (w, g) in (style_targets or {}).items()}
        self.regions = [{name: (w, GuidedStyleLoss(g, region.mask)) for name, (w, g) in region.targets.items()}
                        for region in regions or []]
        self.tv = form.tv()
        style_layers = set(self.style).union(*[set(r) for r in self.regions])
        self.layers = sorted(set(self.content) | style_layers, key=net.layer_names.index)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        features = self.net(image, self.layers, checkpoint_until=self.checkpoint_until, dtype=self.dtype)
        content = {name: loss(features[name]) for name, (_, loss) in self.content.items()}
        style = {name: loss(features[name]) for name, (_, loss) in self.style.items()}
        regions = [{name: loss(features[name]) for name, (_, loss) in region.items()} for region in self.regions]
        return self.combine(content, style, regions, image)

    def combine(self, content: dict[str, torch.Tensor], style: dict[str, torch.Tensor],
                regions: list[dict[str, torch.Tensor]], image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Eq. 7 from each layer's term, however the terms were computed (localized.py sums
        them tile by tile), plus TV and the extra term on the image."""
        parts: dict[str, float] = {}
        total = image.new_zeros(())
        content_sum = image.new_zeros(())
        for name, value in content.items():
            parts[f"content/{name}"] = value.item()
            content_sum = content_sum + self.content[name][0] * value
        style_sum = image.new_zeros(())
        for name, value in style.items():
            parts[f"style/{name}"] = value.item()
            style_sum = style_sum + self.style[name][0] * value
        for k, region in enumerate(regions, 1):
            for name, value in region.items():
                parts[f"style{k}/{name}"] = value.item()
                style_sum = style_sum + self.regions[k - 1][name][0] * value
        if self.content:
            total = total + self.loss_weights.content * self.form.content_scale * content_sum
            parts["content"] = content_sum.item()
        if self.style or self.regions:
            total = total + self.loss_weights.style * style_sum
            parts["style"] = style_sum.item()
        if self.loss_weights.tv:
            tv = self.tv(image)
            total = total + self.loss_weights.tv * tv
            parts["tv"] = tv.item()
        if self.extra is not None:
            value, extra_parts = self.extra(image)
            total = total + value
            parts.update(extra_parts)
        return total, parts


def content_targets(net: FeatureExtractor, images: list[tuple[torch.Tensor, float]],
                    layers: dict[str, float], tile: int | None = None) -> Targets:
    """Per layer: (w_l, sum_i w_i P_i) — several images blend their activations (weighted inversion).
    With `tile`, computed tile by tile (localized.py): for images too large for one pass."""
    net.check_layers(layers)
    size = images[0][0].shape[-2:]
    blended = {name: 0.0 for name in layers}
    with torch.no_grad():
        for image, w in images:
            if image.shape[-2:] != size:
                image = torch.nn.functional.interpolate(image, size=size, mode="bilinear",
                                                        align_corners=False, antialias=True)
            features = tiled_maps(net, image, list(layers), tile) if tile else net(image, layers)
            for name in layers:
                blended[name] = blended[name] + w * features[name]
    return {name: LayerTarget(layers[name], blended[name]) for name in layers}


def style_targets(net: FeatureExtractor, images: list[tuple[torch.Tensor, float]],
                  layers: dict[str, float], tile: int | None = None) -> Targets:
    """Per layer: (w_l, sum_i w_i A_i/M_i) — several styles blend their Gram matrices (with
    `tile`, summed tile by tile)."""
    net.check_layers(layers)
    blended = {name: 0.0 for name in layers}
    with torch.no_grad():
        for image, w in images:
            if tile:
                grams = tiled_grams(net, image, list(layers), tile)
            else:
                features = net(image, layers)
                grams = {name: gram_matrix(features[name]) for name in layers}
            for name in layers:
                blended[name] = blended[name] + w * grams[name]
    return {name: LayerTarget(layers[name], blended[name]) for name in layers}
