"""How much memory a run needs, estimated from the layer shapes before it starts, and what to do
when that is over the budget: recompute the early layers in the backward pass (gradient
checkpointing); beyond that, evaluate the objective tile by tile (localized passes,
localized.py) with a shorter L-BFGS history; or refuse the run with a suggestion instead of
being killed."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..nets.networks import FeatureExtractor
from .localized import layer_geometry
from .objective import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, parse_layers

BASE_MEMORY = 420 * 2**20  # the Python process, torch and the network's weights (measured)
LBFGS_HISTORY = 50  # L-BFGS's steps remembered: two image-sized vectors each
HISTORIES = (LBFGS_HISTORY, 20, 10, 5, 2, 1)  # tried in turn when the image-sized buffers dominate
TILES = (2048, 1024, 512, 256)  # the tile sides tried, largest (least halo overhead) first


@dataclass(frozen=True)
class MemoryPlan:
    """How a run fits its budget."""

    checkpoint_until: str | None = None  # recompute the layers up to this one in the backward pass
    tile: int | None = None  # evaluate tile by tile, tiles of this side (px), at scales that need it
    history: int = LBFGS_HISTORY  # L-BFGS's history
    estimate: int = 0  # bytes, the plan's peak


def image_buffers(size: tuple[int, int], history: int, layers: list[str], model: str | FeatureExtractor,
                  pooling: str = "max") -> int:
    """What a run keeps at the image's size whatever the plan: the image, its gradient, the best
    so far and the optimizer's state (L-BFGS: 2 x history vectors), the content target maps."""
    pixels = size[0] * size[1]
    targets = 0
    net = network(model, pooling)
    strides, _ = layer_geometry(net, layers) if net.arch != "alexnet" else ({}, 0)
    for name, stride in strides.items():
        if name == "relu4_2" or name.startswith("relu4"):  # the content layer's map, 512 channels
            targets = max(targets, 512 * pixels // (stride * stride) * 4)
    return 3 * pixels * 4 * (6 + 2 * history) + targets


def estimate_memory(size: tuple[int, int], layers: list[str] | None = None, model: str | FeatureExtractor = "vgg16",
                    pooling: str = "max", checkpoint_until: str | None = None) -> int:
    """Peak bytes of one evaluation (forward and backward) at `size`, from the layer shapes of
    `model` (a network, or its name with `pooling`: see `network`).

    Counted: tensors autograd keeps for the backward pass (each ReLU's output, max-pooling's
    output and int64 indices, the requested activations), the gradient buffers of the
    backward pass (about three of the largest map), and a measured base. With checkpointing,
    the maps before `checkpoint_until` are not kept, but one segment is recomputed at a time.
    """
    layers = layers or (list(parse_layers(DEFAULT_CONTENT_LAYERS)) + list(parse_layers(DEFAULT_STYLE_LAYERS)))
    net = network(model, pooling)
    last = max(net.layer_names.index(name) for name in layers)
    split = net.layer_names.index(checkpoint_until) if checkpoint_until else -1
    shape = (3, size[1], size[0])
    kept, recomputed, largest = 3 * size[0] * size[1] * 4, 0, 0
    for index in range(last + 1):
        module, name = net.features[index], net.layer_names[index]
        shape = _output_shape(module, shape)
        nbytes = shape[0] * shape[1] * shape[2] * 4
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


def _output_shape(module: torch.nn.Module, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(channels, height, width) after a convolution, pooling or ReLU, by arithmetic: running
    the modules on the meta device costs a second and a half of imports at the first call."""
    if isinstance(module, torch.nn.ReLU):
        return shape
    channels = module.out_channels if isinstance(module, torch.nn.Conv2d) else shape[0]
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    (kh, kw), (sh, sw), (ph, pw) = pair(module.kernel_size), pair(module.stride), pair(module.padding)
    return channels, (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw - kw) // sw + 1


def network(model: str | FeatureExtractor, pooling: str = "max") -> FeatureExtractor:
    """The network whose layer shapes the estimates read: a run's own, or, from a name and a
    pooling, one without weights (on the meta device)."""
    return model if isinstance(model, FeatureExtractor) else _shapes_net(model, pooling)


@functools.lru_cache(maxsize=8)
def _shapes_net(model: str, pooling: str) -> FeatureExtractor:
    return FeatureExtractor(model, pooling).to("meta")


def memory_budget(limit_mb: int | None = None) -> int:
    """The budget in bytes: `limit_mb`, else min(8 GiB, 80 % of physical memory)."""
    if limit_mb:
        return limit_mb * 2**20
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 16 * 2**30
    return min(8 * 2**30, int(0.8 * physical))


def estimate_localized(size: tuple[int, int], layers: list[str], model: str | FeatureExtractor, pooling: str,
                       tile: int, history: int = LBFGS_HISTORY) -> int:
    """Peak bytes of a tile-by-tile evaluation: one tile with its halo at a time, plus the
    image-sized buffers."""
    _, reach = layer_geometry(network(model, pooling), layers)
    halo = -(-reach // 16) * 16
    crop = (min(size[0], tile + 2 * halo), min(size[1], tile + 2 * halo))
    return estimate_memory(crop, layers, model, pooling) + image_buffers(size, history, layers, model, pooling)


def plan_memory(size: tuple[int, int], layers: list[str], model: str | FeatureExtractor, pooling: str = "max",
                limit_mb: int | None = None, tile: int | None = None,
                iterations: int | None = None) -> MemoryPlan:
    """The cheapest plan that fits the budget: the whole image at once (with the shallowest
    checkpoint that fits), else tile by tile (`tile` forces that) with the largest tile and the
    longest L-BFGS history that fit; refuses (InputError) a run that cannot fit, before it starts.
    `model`: the run's network, or a name with `pooling` (see `network`).

    With `iterations` (this scale's), the history is at most that: L-BFGS stores one pair of
    vectors per iteration, so a print's last scales (a few iterations each) hold only a few."""
    budget = memory_budget(limit_mb)
    model = network(model, pooling)
    need = 0
    if tile is None:
        for checkpoint in (None, "pool1", "pool2", "pool3"):
            need = estimate_memory(size, layers, model, pooling, checkpoint)
            if need <= budget:
                return MemoryPlan(checkpoint, estimate=need)
    if model.arch != "alexnet":
        histories = sorted({min(h, iterations or h) for h in HISTORIES}, reverse=True)
        for side in ((tile,) if tile else TILES):
            for history in histories:
                need = estimate_localized(size, layers, model, pooling, side, history)
                if need <= budget:
                    return MemoryPlan(None, side, history, need)
    raise InputError(f"a {size[0]}x{size[1]} px run needs about {need / 2**30:.1f} GiB, more than the "
                     f"{budget / 2**30:.1f} GiB budget: use a smaller --size (or raise --memory-limit)")


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to call
        return None


def release_freed_memory() -> None:
    """Give the memory freed by Python back to the system. glibc keeps freed blocks (a decoded
    upload, a finished job's inputs) in each thread's heap for reuse, so a long-running server's
    size would only ever grow; malloc_trim returns them."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
