"""Convolutional feature extractors (VGG16, VGG19, AlexNet) with conventionally named layers.

The stacks are laid out exactly like torchvision's `features` modules, so a torchvision
state dict (`features.0.weight`, ...) loads into them as it is. Every layer has a name:
`conv1_1`, `relu1_1`, ..., `pool1` for VGG; `conv1`, `relu1`, `pool1`, ... for AlexNet.
Input is RGB in [0, 1]; the ImageNet normalization the weights were trained with happens inside.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

import torch
import torch.utils.checkpoint
from torch import nn

from .errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Caffe's VGG input (the original VGG19, jcjohnson/neural-style): BGR in 0..255 less this mean
# pixel (B, G, R). weights.caffe_to_engine converts such weights to the input above.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
CAFFE_RANGE = 255.0

# Channels per conv layer, "M" for a pooling layer (torchvision's configurations D and E).
VGG_CONFIGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
NETWORKS = ("vgg16", "vgg19", "alexnet")
POOLINGS = ("max", "avg")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _pool(kind: str, kernel_size: int, stride: int) -> nn.Module:
    # Gatys et al. report smoother syntheses with average pooling; max pooling is what was trained.
    return nn.MaxPool2d(kernel_size, stride) if kind == "max" else nn.AvgPool2d(kernel_size, stride)


def _vgg_layers(config: list, pooling: str) -> tuple[list[str], list[nn.Module]]:
    names, modules = [], []
    block, index = 1, 1
    in_channels = 3
    for item in config:
        if item == "M":
            names.append(f"pool{block}")
            modules.append(_pool(pooling, 2, 2))
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            modules += [nn.Conv2d(in_channels, item, 3, padding=1), nn.ReLU()]
            in_channels, index = item, index + 1
    return names, modules


def _alexnet_layers(pooling: str) -> tuple[list[str], list[nn.Module]]:
    names = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2",
             "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5"]
    modules = [
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), _pool(pooling, 3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), _pool(pooling, 3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), _pool(pooling, 3, 2),
    ]
    return names, modules


def layer_names(arch: str) -> list[str]:
    """All layer names of a network, input to output."""
    return FeatureExtractor(arch).layer_names


class FeatureExtractor(nn.Module):
    """A frozen feature stack whose `forward(image, layers)` returns the named activations.

    Only the layers up to the deepest one asked for are run. Non-inplace ReLUs are used so
    that a returned `conv*` activation is not overwritten by the ReLU after it.
    """

    def __init__(self, arch: str = "vgg16", pooling: str = "max"):
        super().__init__()
        if arch not in NETWORKS:
            raise InputError(f"unknown network '{arch}': choose one of {', '.join(NETWORKS)}")
        if pooling not in POOLINGS:
            raise InputError(f"unknown pooling '{pooling}': choose max or avg")
        self.arch, self.pooling = arch, pooling
        if arch == "alexnet":
            names, modules = _alexnet_layers(pooling)
        else:
            names, modules = _vgg_layers(VGG_CONFIGS[arch], pooling)
        self.layer_names = names
        self.features = nn.Sequential(*modules)  # torchvision's key layout: features.<i>.weight
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def check_layers(self, layers: Iterable[str]) -> list[str]:
        """Return the layers as a list, refusing unknown names with the list of valid ones."""
        layers = list(layers)
        for name in layers:
            if name not in self.layer_names:
                raise InputError(
                    f"unknown layer '{name}' for {self.arch}: valid layers are {', '.join(self.layer_names)}"
                )
        return layers

    def forward(self, image: torch.Tensor, layers: Iterable[str],
                checkpoint_until: str | None = None,
                dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        """The activations of `layers` for `image` (RGB in [0, 1]).

        With `checkpoint_until` (a layer name, e.g. "pool2"), the activations up to that layer
        are not kept for the backward pass but recomputed during it (gradient checkpointing):
        the large early feature maps dominate the memory of big images.
        With `dtype` (torch.bfloat16, torch.float16) the network runs in that precision
        (autocast) and returns activations of that dtype; the losses compute in float32 from
        them (Gram products accumulate in float32).
        """
        layers = set(self.check_layers(layers))
        if not layers:
            return {}
        if dtype is not None and dtype != torch.float32:
            with torch.autocast(image.device.type, dtype=dtype):
                out = self.forward(image, layers, checkpoint_until)
            return out
        last = max(self.layer_names.index(name) for name in layers)
        out: dict[str, torch.Tensor] = {}
        x = (image - self.mean) / self.std
        if image.device.type in ("cpu", "cuda"):  # oneDNN and cuDNN convolve NHWC faster
            x = x.contiguous(memory_format=torch.channels_last)
        start = 0
        if checkpoint_until is not None and image.requires_grad:
            split = min(self.layer_names.index(checkpoint_until), last)
            inner = sorted(name for name in layers if self.layer_names.index(name) <= split)
            results = torch.utils.checkpoint.checkpoint(
                self._run, x, 0, split, inner, use_reentrant=False)
            x = results.pop()
            out.update(zip(inner, results))
            start = split + 1
        for index in range(start, last + 1):
            x = self.features[index](x)
            if self.layer_names[index] in layers:
                out[self.layer_names[index]] = x
        return out

    def _run(self, x: torch.Tensor, first: int, last: int, names: list[str]) -> list[torch.Tensor]:
        """Run modules first..last; return the activations named (in order), then the last one."""
        found = {}
        for index in range(first, last + 1):
            x = self.features[index](x)
            found[self.layer_names[index]] = x
        return [found[name] for name in names] + [x]


def pick_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; others must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' is not available here: use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("device 'mps' is not available here: use --device cpu or auto")
    if name not in DEVICES:
        raise InputError(f"unknown device '{name}': choose auto, cpu, cuda or mps")
    return torch.device(name)


PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def _cpu_has_native_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX): only then is it faster."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The convolutions' dtype for `precision` on `device` (None: float32).

    `auto` uses bfloat16 where the hardware runs it natively (about twice the speed of float32
    here, with the same final objective: bench/README.md), else float32."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision '{precision}': choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        return torch.bfloat16 if device.type == "cpu" and _cpu_has_native_bf16() else None
    return None if precision == "float32" else getattr(torch, precision)


def set_threads(threads: int | None) -> None:
    """Use `threads` CPU threads for torch (default: torch's own choice, one per core)."""
    if threads is not None:
        if threads < 1:
            raise InputError("--threads must be at least 1")
        torch.set_num_threads(threads)
    elif "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))


@functools.lru_cache(maxsize=64)
def min_side(arch: str, pooling: str, deepest: int) -> int:
    """The smallest square input for which layer number `deepest` still has one position."""
    net = FeatureExtractor(arch, pooling)
    for side in range(1, 512):
        try:
            with torch.no_grad():
                net(torch.zeros(1, 3, side, side), [net.layer_names[deepest]])
            return side
        except RuntimeError:
            continue
    return 512
