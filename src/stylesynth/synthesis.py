"""Gatys et al.'s objective (Eq. 7) from named layers and target images, and one `synthesize` call.

Every mode is a configuration of this: reconstruct = content terms only, texture = style
terms only, transfer = both. Targets are computed once per run (once per scale when a
pyramid is used); each evaluation runs the network once, up to the deepest layer needed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from . import __version__
from . import colors
from .errors import InputError, StylesynthError
from .imageio import to_pil, to_tensor
from .losses import ContentLoss, GuidedStyleLoss, StyleLoss, TVLoss, gram_matrix
from .nets import IMAGENET_MEAN, FeatureExtractor, load_network, pick_dtype, set_threads
from .optimize import OPTIMIZERS, Step, optimize

# The paper's layers are Caffe blobs, whose ReLUs work in place: its "conv4_2" is our relu4_2.
DEFAULT_CONTENT_LAYERS = "relu4_2"
# The first three layers carry the palette, the brush strokes and their arrangement; weighing
# them more than the deep ones (which Eq. 4 taken literally does the other way round) is what
# makes a result look painted, measured with the judge in docs/normalization.md.
DEFAULT_STYLE_LAYERS = "relu1_1:0.2,relu2_1:0.3,relu3_1:0.3,relu4_1:0.1,relu5_1:0.1"
# alpha/beta is given in the paper's units (its Fig. 2 uses 1e-3 and 1e-4; Fig. 3 spans 1e-5 ..
# 1e-2). Our terms are relative errors (losses.py), not the paper's sums over Caffe's 0..255 VGG;
# CONTENT_SCALE maps one onto the other so that Fig. 3's range spans what it does in the paper:
# from white noise, 1e-2 shows the photo with a hint of the painting and 1e-5 is nearly pure
# texture (`figure grid`); from the default start, 1e-2 is the photo with a faint hint, 1e-3
# mildly painted, 1e-4 and below strongly (docs/normalization.md). At 10 (before) the content
# term was too weak to matter below 1e-4: the judge gave 1e-4 and 1e-5 the same numbers and
# half of the web's strength slider did nothing. The default keeps the strength chosen with
# the judge (content term 0.001 x the style's: the lowest style number at the anchors' content).
DEFAULT_RATIO = 1e-5
CONTENT_SCALE = 100.0


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
                 style_targets: dict[str, tuple[float, torch.Tensor]] | None = None,
                 regions: list[tuple[torch.Tensor, dict[str, tuple[float, torch.Tensor]]]] | None = None,
                 extra: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]] | None = None):
        """`regions`: [(soft mask 1x1xHxW, style targets), ...] — each region matches its own
        style (guided Gram matrices) instead of one style everywhere. `extra`: a further term,
        image -> (weighted scalar tensor, {name: value}), added as it is (video's temporal loss)."""
        self.net, self.weights, self.extra = net, weights, extra
        self.content = {name: (w, ContentLoss(t)) for name, (w, t) in (content_targets or {}).items()}
        self.style = {name: (w, StyleLoss(g)) for name, (w, g) in (style_targets or {}).items()}
        self.regions = [{name: (w, GuidedStyleLoss(g, mask)) for name, (w, g) in targets.items()}
                        for mask, targets in regions or []]
        self.tv = TVLoss()
        style_layers = set(self.style).union(*[set(r) for r in self.regions])
        self.layers = sorted(set(self.content) | style_layers, key=net.layer_names.index)
        self.checkpoint_until: str | None = None  # see FeatureExtractor.forward
        self.dtype: torch.dtype | None = None  # the convolutions' precision (None: float32)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        features = self.net(image, self.layers, checkpoint_until=self.checkpoint_until, dtype=self.dtype)
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
        for k, region in enumerate(self.regions, 1):
            for name, (w, loss) in region.items():
                value = loss(features[name])
                parts[f"style{k}/{name}"] = value.item()
                style = style + w * value
        if self.content:
            total = total + self.weights.content * CONTENT_SCALE * content
            parts["content"] = content.item()
        if self.style or self.regions:
            total = total + self.weights.style * style
            parts["style"] = style.item()
        if self.weights.tv:
            tv = self.tv(image)
            total = total + self.weights.tv * tv
            parts["tv"] = tv.item()
        if self.extra is not None:
            value, extra_parts = self.extra(image)
            total = total + value
            parts.update(extra_parts)
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


# -- one run: images in, image out -------------------------------------------------------------

NOISE_STD = 0.05
INITS = ("palette", "content", "noise", "style")  # start images by name (or an image of one's own)


# Coarse-to-fine schedules (Gatys et al. 2017, "Controlling Perceptual Factors"): optimize at
# a small scale, upsample the result as the next scale's start, finish at the requested size.
# A preset is [iterations at the first scale, iterations at each finer scale]; scales double.
# Where the pyramid starts was chosen with the judge (docs/normalization.md): from an image (the
# palette start, by default) at BASE_SIDE px, where relu4_2 still holds the photo's layout (from
# 128 px the buildings dissolve), then doubling up to the output. From white noise nothing of the
# layout exists yet: the pyramid starts at NOISE_BASE_SIDE px and the coarse scales, where an
# iteration costs 4-16x less, do most of the work (NOISE_PRESETS: first scale, the scales between,
# the finest). Measured with the judge on textures at 256 px: from [64, 10] at 128/256 px (style
# 0.48-0.58 over the four bundled paintings, 16 s) to [150, 100, 20] at 64/128/256 px (0.39-0.47,
# 32 s; seed 1: 0.34-0.48), docs/normalization.md.
PRESETS = {
    "draft": [30, 5],
    "fast": [64, 10],
    "quality": [250, 40],
    "classic": [500],  # always a single scale, as jcjohnson/neural-style and the PyTorch tutorial
}
NOISE_PRESETS = {
    "draft": [60, 40, 8],
    "fast": [150, 100, 20],
    "quality": [400, 250, 60],
    "classic": [500],
}
BASE_SIDE = 256
NOISE_BASE_SIDE = 64
MIN_SCALE_SIDE = 64  # coarser scales than this (long side) are skipped


@dataclass
class RunOptions:
    """Settings every mode shares; the CLI and the web read their defaults from here."""

    size: int = 512  # long side of the output, px
    model: str = "vgg16"
    # Average pooling, Gatys et al.'s choice for synthesis: gradients reach every pixel of a
    # window, and the judge's style number drops by about 0.06 at the same content (measured,
    # docs/normalization.md). Max pooling is what the network was trained with.
    pooling: str = "avg"
    device: str = "auto"
    threads: int | None = None
    weights: str | None = None  # explicit weights file (else the resolver's order)
    optimizer: str = "lbfgs"
    precision: str = "auto"  # the convolutions': auto (bfloat16 where native), float32, bfloat16, float16
    preset: str = "fast"  # a key of PRESETS: scales and iterations per scale
    scales: int | None = None  # number of scales (1: single scale); None: the preset's
    iterations: int | str | list[int] | None = None  # per scale: N for each, or "a,b,c" coarse to fine
    lr: float | None = None  # None: the optimizer's default (optimize.DEFAULT_LR)
    seed: int | None = None  # None: a random seed, recorded with the result
    tv_weight: float = 0.0
    progress: bool = True
    on_step: Callable[[Step], None] | None = None  # called after every iteration
    cache_targets: bool = True  # keep style targets on disk (restyling skips that work)
    memory_limit_mb: int | None = None  # None: min(8 GiB, 80 % of the machine's memory)
    checkpoint_path: str | None = None  # where to keep the run's state (CLI: OUT.ckpt)
    checkpoint_every: int = 0  # save the state every N iterations (0: never)
    resume: bool = False  # continue from checkpoint_path if it holds this run's state
    # A further term of the objective (GatysObjective's `extra`): image -> (loss, parts); it may
    # be called at every scale's size (video's temporal loss, modes/video.py)
    extra_loss: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]] | None = None

    def check(self) -> None:
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            raise InputError(f"size must be a positive number of pixels, got {self.size}")
        if self.size > MAX_SIZE:
            raise InputError(f"size {self.size} is too large: at most {MAX_SIZE} px")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer '{self.optimizer}': choose one of {', '.join(OPTIMIZERS)}")
        if self.preset not in PRESETS:
            raise InputError(f"unknown preset '{self.preset}': choose one of {', '.join(PRESETS)}")
        # Numbers that would overflow in C (a traceback), start a million threads, never finish
        # (2**scales) or make the loss NaN are refused before any work.
        for name, low, high in (("seed", -2**63, 2**64 - 1), ("threads", None, 1024), ("scales", None, 16)):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool) and (
                    value > high or (low is not None and value < low)):
                span = f"from {low} to {high}" if low is not None else f"at most {high}"
                raise InputError(f"{name} must be a whole number {span}, got {value}")
        for name, value, strict in (("tv weight", self.tv_weight, False), ("learning rate", self.lr, True),
                                    ("memory limit (MB)", self.memory_limit_mb, True)):
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)
                                          and (value > 0 if strict else value >= 0)):
                raise InputError(f"{name} must be a finite number {'>' if strict else '>='} 0, got {value}")

    def schedule(self, out_size: tuple[int, int], minimum: int,
                 from_noise: bool = False) -> list[tuple[tuple[int, int], int]]:
        """[((width, height), iterations), ...] from the coarsest scale to `out_size`."""
        iterations = self.iterations
        if isinstance(iterations, str):
            try:
                iterations = [int(v) for v in iterations.split(",")]
            except ValueError:
                raise InputError(f"bad iterations '{self.iterations}': write N or N1,N2,... "
                                 "(coarse to fine)") from None
            iterations = iterations[0] if len(iterations) == 1 else iterations
        scales = self.scales
        if scales is not None and (not isinstance(scales, int) or scales < 1):
            raise InputError(f"scales must be at least 1, got {scales}")
        if isinstance(iterations, list):
            if scales is not None and scales != len(iterations):
                raise InputError(f"{len(iterations)} iteration counts for {scales} scales")
            scales = len(iterations)
        preset = (NOISE_PRESETS if from_noise else PRESETS)[self.preset]
        if scales is None:
            base = NOISE_BASE_SIDE if from_noise else BASE_SIDE
            # At least two scales: the finest one, started from the coarser result, is where the
            # strokes are painted at the output's own size (docs/normalization.md).
            scales = 1 if len(preset) == 1 else 1 + max(1, round(math.log2(max(out_size) / base)))
        width, height = out_size
        sizes = []
        for k in range(scales):
            factor = 2 ** (scales - 1 - k)
            size = (max(1, round(width / factor)), max(1, round(height / factor)))
            if factor > 1 and (max(size) < MIN_SCALE_SIDE or min(size) < minimum):
                if isinstance(iterations, list):
                    iterations = iterations[1:]  # this scale's count goes with it
                continue  # too small to say anything: start at the next scale
            sizes.append(size)
        if isinstance(iterations, list):
            counts = iterations
        elif iterations is not None:
            counts = [iterations] * len(sizes)
        else:
            # Scales between the first and the finest: the large structures are laid out by
            # BASE_SIDE px; above it an iteration costs too much for more than the finest's count.
            between = [preset[min(1, len(preset) - 1)] if max(size) <= BASE_SIDE else preset[-1]
                       for size in sizes[1:-1]]
            counts = ([preset[0]] + between + [preset[-1]])[:len(sizes)]
        for n in counts:
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise InputError(f"iterations must be at least 1, got {n}")
        return list(zip(sizes, counts))


MAX_SIZE = 8192


@functools.lru_cache(maxsize=4)
def _network(model: str, pooling: str, device: str, weights: str | None) -> FeatureExtractor:
    net = load_network(model, pooling, device, weights)
    # Identifies the weights in cache keys: a hash of the first and last conv kernels.
    convs = [m.weight for m in net.features if isinstance(m, torch.nn.Conv2d)]
    digest = hashlib.sha256(convs[0].detach().cpu().numpy().tobytes())
    digest.update(convs[-1].detach().cpu().numpy().tobytes())
    net.weights_id = digest.hexdigest()[:16]
    return net


def _resize(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """PIL image to a 1x3xHxW tensor of exactly `size` = (width, height)."""
    if image.size != size:
        image = image.resize(size, Image.LANCZOS)
    return to_tensor(image)


@functools.lru_cache(maxsize=64)
def _min_side(arch: str, pooling: str, deepest: int) -> int:
    """The smallest square input for which layer `deepest` still has at least one position."""
    net = FeatureExtractor(arch, pooling)
    for side in range(1, 512):
        try:
            with torch.no_grad():
                net(torch.zeros(1, 3, side, side), [net.layer_names[deepest]])
            return side
        except RuntimeError:
            continue
    return 512


def output_size(image: Image.Image, size: int) -> tuple[int, int]:
    """(width, height) with the long side `size` and the aspect ratio of `image`."""
    w, h = image.size
    scale = size / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


BASE_MEMORY = 420 * 2**20  # the Python process, torch and the network's weights (measured)


def estimate_memory(size: tuple[int, int], layers: list[str] | None = None, model: str = "vgg16",
                    pooling: str = "max", checkpoint_until: str | None = None) -> int:
    """Peak bytes of one evaluation (forward and backward) at `size`, from the layer shapes.

    Counted: tensors autograd keeps for the backward pass (each ReLU's output, max-pooling's
    output and int64 indices, the requested activations), the gradient buffers of the
    backward pass (about three of the largest map), and a measured base. With checkpointing,
    the maps before `checkpoint_until` are not kept, but one segment is recomputed at a time.
    """
    layers = layers or (list(parse_layers(DEFAULT_CONTENT_LAYERS)) + list(parse_layers(DEFAULT_STYLE_LAYERS)))
    net = _shapes_net(model, pooling)
    last = max(net.layer_names.index(name) for name in layers)
    split = net.layer_names.index(checkpoint_until) if checkpoint_until else -1
    x = torch.empty(1, 3, size[1], size[0], device="meta")
    kept, recomputed, largest = x.numel() * 4, 0, 0
    for index in range(last + 1):
        module, name = net.features[index], net.layer_names[index]
        x = module(x)
        nbytes = x.numel() * 4
        largest = max(largest, nbytes)
        saved = nbytes if isinstance(module, (torch.nn.ReLU, torch.nn.AvgPool2d)) else 0
        if isinstance(module, torch.nn.MaxPool2d):
            saved = nbytes * 3  # output + int64 indices
        if name in layers and not isinstance(module, torch.nn.ReLU):
            saved += nbytes
        if index <= split:
            recomputed += saved
            kept += nbytes if (name in layers or index == split) else 0
        else:
            kept += saved
    # The backward pass meets the checkpointed segment last, once the later maps are freed.
    return BASE_MEMORY + max(kept, recomputed) + 3 * largest


@functools.lru_cache(maxsize=8)
def _shapes_net(model: str, pooling: str) -> FeatureExtractor:
    return FeatureExtractor(model, pooling).to("meta")


def memory_limit(options: "RunOptions") -> int:
    """The memory budget in bytes: the option, else min(8 GiB, 80 % of physical memory)."""
    if options.memory_limit_mb:
        return options.memory_limit_mb * 2**20
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 16 * 2**30
    return min(8 * 2**30, int(0.8 * physical))


def plan_memory(options: "RunOptions", size: tuple[int, int], layers: list[str]) -> str | None:
    """None if a run at `size` fits the memory budget, else the shallowest checkpoint that
    makes it fit; refuses (InputError) a run that cannot fit, before starting it."""
    budget = memory_limit(options)
    for checkpoint in (None, "pool1", "pool2", "pool3"):
        need = estimate_memory(size, layers, options.model, options.pooling, checkpoint)
        if need <= budget:
            return checkpoint
    raise InputError(f"a {size[0]}x{size[1]} px run needs about {need / 2**30:.1f} GiB, more than the "
                     f"{budget / 2**30:.1f} GiB budget: use a smaller --size (or raise --memory-limit)")


def cached_style_targets(net: FeatureExtractor, images: list[tuple[torch.Tensor, float]],
                         layers: dict[str, float], use_cache: bool = True):
    """style_targets, with each image's Gram matrices kept on disk per (pixels, size, network,
    layers): restyling with the same painting skips their computation."""
    if not use_cache:
        return style_targets(net, images, layers)
    from .weights import cache_dir

    directory = cache_dir() / "targets"
    blended = {name: 0.0 for name in layers}
    for image, w in images:
        digest = hashlib.sha256(image.detach().cpu().numpy().tobytes())
        digest.update(repr((tuple(image.shape), net.arch, net.pooling, getattr(net, "weights_id", ""),
                            sorted(layers))).encode())
        path = directory / f"{digest.hexdigest()[:32]}.pt"
        grams = None
        if path.exists():
            try:
                grams = torch.load(path, map_location=image.device, weights_only=True)
            except Exception:  # a damaged entry is recomputed
                grams = None
        if grams is None or set(grams) != set(layers):
            grams = {name: g for name, (_, g) in style_targets(net, [(image, 1.0)], layers).items()}
            try:
                directory.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                torch.save({k: v.cpu() for k, v in grams.items()}, tmp)
                os.replace(tmp, path)
            except OSError:
                pass  # a read-only cache only costs time
        for name in layers:
            blended[name] = blended[name] + w * grams[name].to(image.device)
    return {name: (layers[name], blended[name]) for name in layers}


def _start_image(init: str | Image.Image, size: tuple[int, int], content, style,
                 generator: torch.Generator) -> torch.Tensor:
    width, height = size
    if isinstance(init, Image.Image):
        return _resize(init, size)
    if init == "noise":
        # White noise of small amplitude around a mean colour (as jcjohnson/neural-style does):
        # from full-range noise L-BFGS needs about twice the iterations for the same fidelity
        # (measured: conv2_2 reconstruction at 128 px, 300 iterations: 17 dB vs 22 dB). The
        # colour is the painting's where there is one: a texture starts in its palette.
        mean = (to_tensor(style[0][0]).mean((2, 3), keepdim=True) if style
                else torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        return (mean + NOISE_STD * torch.randn(1, 3, height, width, generator=generator)).clamp(0, 1)
    if init in ("content", "palette"):
        if not content:
            raise InputError(f"--init {init} needs a content image")
        if init == "palette" and style:
            # The photo recoloured to the painting's colour mean and covariance: the palette is
            # the largest part of a style, and from the photo's own colours L-BFGS does not find
            # it (relu1_1's term stays ten times higher, docs/normalization.md).
            return _resize(colors.match_histogram(content[0][0], style[0][0]), size)
        return _resize(content[0][0], size)
    if init == "style":
        if not style:
            raise InputError("--init style needs a style image")
        return _resize(style[0][0], size)
    raise InputError(f"unknown init '{init}': use {', '.join(INITS)} or an image path")


def _upsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return torch.nn.functional.interpolate(image, size=(size[1], size[0]), mode="bicubic",
                                           align_corners=False).clamp(0, 1)


def _downsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return torch.nn.functional.interpolate(image, size=(size[1], size[0]), mode="bilinear",
                                           align_corners=False, antialias=True)


def _fingerprint(mode, out_size, options, weights, content, style, content_layers, style_layers,
                 init) -> str:
    """What makes two runs the same run: a checkpoint resumes only the run that wrote it."""
    digest = hashlib.sha256()
    for img, w in (content or []) + (style or []):
        digest.update(img.tobytes())
        digest.update(repr((img.size, w)).encode())
    if isinstance(init, Image.Image):
        digest.update(init.tobytes())
    settings = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
                if f.name not in ("progress", "on_step", "threads", "checkpoint_path", "checkpoint_every",
                             "resume", "cache_targets", "memory_limit_mb", "extra_loss")}
    digest.update(repr((mode, out_size, settings, dataclasses.astuple(weights), content_layers,
                        style_layers, init if isinstance(init, str) else "image")).encode())
    return digest.hexdigest()


def _save_checkpoint(path: str, state: dict) -> None:
    """Write the run's state atomically: a kill during the write keeps the previous one."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise StylesynthError(f"cannot write checkpoint {path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_checkpoint(options: "RunOptions", fingerprint: str) -> dict | None:
    """The saved state of this very run, or None when there is none to resume."""
    path = options.checkpoint_path
    if not path or not os.path.exists(path):
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise InputError(f"checkpoint {path} is damaged: delete it to start afresh") from None
    if state.get("fingerprint") != fingerprint:
        raise InputError(f"checkpoint {path} belongs to a different run (other inputs or options): "
                         "run without --resume, or delete it")
    return state


def synthesize(*, mode: str, out_size: tuple[int, int], options: RunOptions, weights: Weights,
               content: list[tuple[Image.Image, float]] | None = None,
               style: list[tuple[Image.Image, float]] | None = None,
               content_layers: dict[str, float] | None = None,
               style_layers: dict[str, float] | None = None,
               init: str | Image.Image = "noise", record: dict | None = None,
               style_scale: float = 1.0, style_masks: list[torch.Tensor] | None = None) -> Image.Image:
    """Optimize an image of `out_size` against content and/or style targets; return it as PIL.

    The style images are seen at `style_scale` times the output's size (larger: bigger brush
    strokes). With `style_masks` (one soft 1x1xHxW mask per style, at any resolution), style i
    is matched only where its mask is (guided Gram matrices).

    Runs the schedule of `options` coarse to fine: at each scale the targets are computed from
    the inputs resized to that scale, and the previous scale's result, upsampled, is the start.
    The returned image's `info["stylesynth"]` holds the record: every parameter, the seed,
    final losses (total, per term, per layer), seconds, iterations, and `interrupted`.
    """
    options.check()
    if options.checkpoint_every < 0:
        raise InputError("--checkpoint-every must be >= 0")
    set_threads(options.threads)
    net = _network(options.model, options.pooling, options.device,
                   str(options.weights) if options.weights else None)
    device = next(net.buffers()).device
    fingerprint = _fingerprint(mode, out_size, options, weights, content, style, content_layers,
                               style_layers, init)
    resume = _load_checkpoint(options, fingerprint) if options.resume else None
    seed = options.seed if options.seed is not None else (
        resume["seed"] if resume else int(torch.randint(0, 2**31 - 1, ()).item()))
    generator = torch.Generator().manual_seed(seed)

    layers = list(content_layers or {}) + list(style_layers or {})
    net.check_layers(layers)
    deepest = max(net.layer_names.index(name) for name in layers)
    minimum = _min_side(options.model, options.pooling, deepest)
    if min(out_size) < minimum:
        raise InputError(f"the output would be {out_size[0]}x{out_size[1]} px, too small for layer "
                         f"{net.layer_names[deepest]} (it needs {minimum} px a side): use a larger --size")
    plan = options.schedule(out_size, minimum, from_noise=isinstance(init, str) and init == "noise")
    checkpoint_until = plan_memory(options, out_size, layers) if device.type == "cpu" else None
    dtype = pick_dtype(options.precision, device)

    # Progress counts work, not iterations: an iteration costs in proportion to its pixels.
    cost = [size[0] * size[1] * n for size, n in plan]
    total_iterations = sum(n for _, n in plan)
    bar = tqdm(total=100.0, desc=mode, disable=not options.progress or None, file=sys.stderr,
               dynamic_ncols=True, leave=True, bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}{postfix}]")
    done = {"iterations": 0, "work": 0.0}
    start = time.perf_counter()
    image = None
    previous = None  # the last scale's size
    result = None
    try:
        for index, (size, iterations) in enumerate(plan):
            if resume and index < resume["scale_index"]:
                done["iterations"] += iterations
                done["work"] += cost[index] / sum(cost) * 100
                bar.update(cost[index] / sum(cost) * 100)
                continue
            content_t = [(_resize(img, size).to(device), w) for img, w in content or []]
            # The style image is seen at this scale: its long side is the output's here, times
            # style_scale.
            style_side = max(1, round(max(size) * style_scale))
            style_t = [(_resize(img, output_size(img, style_side)).to(device), w) for img, w in style or []]
            for img, _ in style_t:
                if min(img.shape[-2:]) < minimum:
                    raise InputError(f"the style image at this size is {img.shape[-1]}x{img.shape[-2]} "
                                     f"px, too small for layer {net.layer_names[deepest]}: use a larger --size")
            if style_masks:  # one region per style, each with that style's targets alone
                regions = [(torch.nn.functional.interpolate(m.to(device), size=(size[1], size[0]), mode="area"),
                            cached_style_targets(net, [(img, 1.0)], style_layers, options.cache_targets))
                           for m, (img, _) in zip(style_masks, style_t)]
                global_style = None
            else:
                regions = None
                global_style = (cached_style_targets(net, style_t, style_layers, options.cache_targets)
                                if style_layers else None)
            objective = GatysObjective(
                net, weights,
                content_targets(net, content_t, content_layers) if content_layers else None,
                global_style, regions, extra=options.extra_loss)
            objective.checkpoint_until = checkpoint_until
            objective.dtype = dtype
            if image is None:
                image = _start_image(init, size, content, style, generator)
            else:
                image = _upsample(image.cpu(), size)
                if not (isinstance(init, str) and init in ("noise", "palette")):
                    # The start image's detail that the coarser scale could not hold (a Laplacian
                    # pyramid level): from a photo, the result keeps its fine structure. Not from
                    # the palette start: its detail is the photo's texture again, and the finest
                    # scale spent its iterations painting it over (the judge's style number on
                    # tubingen x the_scream: 0.70 with it; docs/normalization.md).
                    detail = _start_image(init, size, content, style, generator)
                    image = (image + detail - _upsample(_downsample(detail, previous), size)).clamp(0, 1)
            previous = size
            image = image.to(device)
            per_iteration = cost[index] / iterations / sum(cost) * 100

            def on_step(step: Step, index=index, per_iteration=per_iteration) -> None:
                done["iterations"] += 1
                done["work"] += per_iteration
                shown = {"scale": f"{index + 1}/{len(plan)}", "loss": f"{step.loss:.4g}"}
                shown.update({k: f"{v:.4g}" for k, v in step.parts.items() if "/" not in k})
                bar.set_postfix(shown, refresh=False)
                bar.update(per_iteration)
                if options.on_step is not None:
                    options.on_step(dataclasses.replace(
                        step, iteration=done["iterations"], iterations=total_iterations,
                        scale=index + 1, scales=len(plan), fraction=min(1.0, done['work'] / 100)))

            state = resume["loop"] if resume and index == resume["scale_index"] else None
            if state is not None:
                done["iterations"] += state["iteration"]
                done["work"] += per_iteration * state["iteration"]
                bar.update(per_iteration * state["iteration"])

            def on_checkpoint(loop: dict, index=index) -> None:
                _save_checkpoint(options.checkpoint_path, {"fingerprint": fingerprint, "seed": seed,
                                                           "scale_index": index, "loop": loop})

            result = optimize(image, objective, iterations=iterations, optimizer=options.optimizer,
                              lr=options.lr, on_step=on_step, resume=state,
                              checkpoint_every=options.checkpoint_every if options.checkpoint_path else 0,
                              on_checkpoint=on_checkpoint)
            image = result.image
            done["evaluations"] = done.get("evaluations", 0) + result.evaluations
            if result.interrupted or result.warning:
                break
    finally:
        bar.close()
    if options.checkpoint_path and not (result.interrupted or result.warning):
        Path(options.checkpoint_path).unlink(missing_ok=True)  # finished: nothing to resume

    width, height = out_size
    if image.shape[-2:] != (height, width):  # interrupted at a coarse scale: deliver the size asked
        image = torch.nn.functional.interpolate(image, size=(height, width), mode="bicubic",
                                                align_corners=False).clamp(0, 1)
    image = to_pil(image)
    image.info["stylesynth"] = {
        "mode": mode,
        "version": __version__,
        **(record or {}),
        "size": [width, height],
        "model": options.model, "pooling": options.pooling, "optimizer": options.optimizer,
        "precision": str(dtype or torch.float32).removeprefix("torch."),
        "preset": options.preset, "schedule": [[list(size), n] for size, n in plan],
        "iterations": total_iterations, "lr": options.lr, "seed": seed,
        "init": init if isinstance(init, str) else "image",
        "content_layers": content_layers, "style_layers": style_layers,
        "content_weight": weights.content, "style_weight": weights.style, "tv_weight": weights.tv,
        "content_scale": CONTENT_SCALE, "style_scale": style_scale,
        "losses": {"total": result.loss, **result.parts},
        "seconds": round(time.perf_counter() - start, 3),
        "iterations_done": done["iterations"], "evaluations": done["evaluations"],
        "interrupted": result.interrupted,
        "warning": result.warning,
        "device": str(device),
        "checkpoint_until": checkpoint_until,
        "memory_estimate_mb": round(estimate_memory(out_size, layers, options.model, options.pooling,
                                                    checkpoint_until) / 2**20),
    }
    image.info["stylesynth_history"] = result.history
    return image
