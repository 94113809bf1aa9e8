"""Gatys et al.'s objective (Eq. 7): named layers, loss weights, typed targets, and the sum.

reconstruct = content terms only, texture = style terms only, transfer = both. Targets are
computed once per scale; each evaluation runs the network once, up to the deepest layer needed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..errors import InputError
from ..names import (DEEP_LAYERS_SIDE, DEFAULT_CONTENT_LAYERS, DEFAULT_RATIO,  # noqa: F401 (re-exported)
                     DEFAULT_STYLE_LAYERS, SMALL_PAINTING_STYLE_LAYERS)
from ..nets.networks import FeatureExtractor
from .. import classic
from ..options import TransferOptions, check_number
from ..pyramid import content_factor
from .localized import tiled_grams, tiled_maps
from .losses import (ContentLoss, GuidedStyleLoss, SquaredContentLoss, SquaredStyleLoss, SquaredTVLoss,
                     StyleLoss, TVLoss, gram_matrix)

# The factor on alpha that puts --ratio in the paper's units (our terms are relative errors, not
# its sums over Caffe's VGG). History: docs/normalization.md, "Units of α/β".
CONTENT_SCALE = 200.0

# A style layer takes part only if its map of the painting has this many positions (not in the
# paper): fewer, and it copies the painting's layout. docs/normalization.md, "Textures that are textures".
MIN_STYLE_POSITIONS = 24 * 24

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


def style_layers_for(net: FeatureExtractor, layers: dict[str, float], size: tuple[int, int],
                     photo: bool = False) -> dict[str, float]:
    """The style layers whose map of a painting of `size` (height, width) px has at least
    MIN_STYLE_POSITIONS positions, their weights scaled to keep the sum; at least the shallowest.
    With `photo` (a transfer), the default layers are SMALL_PAINTING_STYLE_LAYERS while the
    painting is smaller than DEEP_LAYERS_SIDE."""
    if photo and max(size) < DEEP_LAYERS_SIDE and layers == parse_layers(DEFAULT_STYLE_LAYERS):
        layers = parse_layers(SMALL_PAINTING_STYLE_LAYERS)
    kept = {name: w for name, w in layers.items()
            if (size[0] // net.stride(name)) * (size[1] // net.stride(name)) >= MIN_STYLE_POSITIONS}
    if not kept:
        shallowest = min(layers, key=net.layer_names.index)
        kept = {shallowest: layers[shallowest]}
    scale = sum(layers.values()) / sum(kept.values()) if sum(kept.values()) > 0 else 1.0
    return {name: w * scale for name, w in kept.items()}


@dataclass
class LossWeights:
    """alpha and beta of Eq. 7 and the TV weight, from a ratio or explicit weights."""

    content: float
    style: float
    tv: float = 0.0

    @classmethod
    def from_options(cls, ratio: float | None = None, content_weight: float | None = None,
                     style_weight: float | None = None, tv_weight: float = 0.0,
                     preset: str | None = None) -> "LossWeights":
        """The weights of a ratio alpha/beta (None: DEFAULT_RATIO) or of explicit weights, one left
        out being 1; never both (TransferOptions.check). Under the classic preset, neural-style's
        weights (classic.TRANSFER) are the ones left out, and a ratio sets the content weight
        against its style weight."""
        TransferOptions(ratio=ratio, content_weight=content_weight, style_weight=style_weight).check()
        check_number("tv weight", tv_weight, low=0)
        if preset == classic.PRESET:
            recipe = classic.TRANSFER
            if content_weight is None and style_weight is None and ratio not in (None, DEFAULT_RATIO):
                return cls(content=ratio * recipe["style_weight"], style=recipe["style_weight"], tv=tv_weight)
            return cls(content=recipe["content_weight"] if content_weight is None else content_weight,
                       style=recipe["style_weight"] if style_weight is None else style_weight, tv=tv_weight)
        if content_weight is not None or style_weight is not None:
            return cls(content=1.0 if content_weight is None else content_weight,
                       style=1.0 if style_weight is None else style_weight, tv=tv_weight)
        return cls(content=DEFAULT_RATIO if ratio is None else ratio, style=1.0, tv=tv_weight)

    def for_preset(self, preset: str, iterations) -> "LossWeights":
        """These weights as `preset` runs them: its content factor (pyramid.content_factor, 1
        with explicit `iterations`) applied to the content weight."""
        return dataclasses.replace(self, content=self.content * content_factor(preset, iterations))


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
                 form: LossForm = RELATIVE, wrap: bool = False):
        """`regions`: each matches its own style (guided Gram matrices) instead of one style
        everywhere. `extra`: a further term, image -> (weighted scalar tensor, {name: value}),
        added as it is (video's temporal loss). `checkpoint_until`: see FeatureExtractor.forward;
        `dtype`: the convolutions' precision (None: float32); `form`: the terms (RELATIVE, SQUARED);
        `wrap`: the image is periodic (FeatureExtractor.forward), for a texture without a frame."""
        if regions and not form.guided:
            raise InputError("region masks are not part of the classic recipe: use another preset")
        self.net, self.loss_weights, self.extra, self.form, self.wrap = net, loss_weights, extra, form, wrap
        self.checkpoint_until, self.dtype = checkpoint_until, dtype
        self.content = {name: (w, form.content(t)) for name, (w, t) in (content_targets or {}).items()}
        self.style = {name: (w, form.style(g)) for name, (w, g) in (style_targets or {}).items()}
        self.regions = [{name: (w, GuidedStyleLoss(g, region.mask)) for name, (w, g) in region.targets.items()}
                        for region in regions or []]
        self.tv = form.tv(wrap=True) if wrap else form.tv()  # only the engine's own TV has a wrap
        style_layers = set(self.style).union(*[set(r) for r in self.regions])
        self.layers = sorted(set(self.content) | style_layers, key=net.layer_names.index)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        features = self.net(image, self.layers, checkpoint_until=self.checkpoint_until, dtype=self.dtype,
                            wrap=self.wrap)
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
