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

from ..errors import InputError
from ..names import (ALEXNET, CAFFE_MEAN_BGR, CAFFE_RANGE, DEVICES, IMAGENET_MEAN, IMAGENET_STD,  # noqa: F401 (re-exported)
                    NETWORKS, POOLINGS, PRECISIONS, VGG_CONFIGS, layer_names)



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
    names, modules, channels = [], [], 3
    for name, *conv in ALEXNET:
        names.append(name)
        if conv:
            out, kernel, stride, padding = conv
            modules.append(nn.Conv2d(channels, out, kernel, stride=stride, padding=padding))
            channels = out
        else:
            modules.append(nn.ReLU() if name.startswith("relu") else _pool(pooling, 3, 2))
    return names, modules


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

    def stride(self, name: str) -> int:
        """How many input pixels apart two neighbouring positions of layer `name` are."""
        step = 1
        for layer, module in zip(self.layer_names, self.features):
            module_stride = getattr(module, "stride", 1)
            step *= module_stride[0] if isinstance(module_stride, tuple) else module_stride
            if layer == name:
                return step
        raise InputError(f"unknown layer '{name}' for {self.arch}")

    def forward(self, image: torch.Tensor, layers: Iterable[str],
                checkpoint_until: str | None = None,
                dtype: torch.dtype | None = None, wrap: bool = False) -> dict[str, torch.Tensor]:
        """The activations of `layers` for `image` (RGB in [0, 1]).

        With `checkpoint_until` (a layer name, e.g. "pool2"), the activations up to that layer
        are not kept for the backward pass but recomputed during it (gradient checkpointing):
        the large early feature maps dominate the memory of big images.
        With `dtype` (torch.bfloat16, torch.float16) the network runs in that precision
        (autocast) and returns activations of that dtype; the losses compute in float32 from
        them (Gram products accumulate in float32).
        With `wrap` the convolutions pad circularly, as if the image were tiled: no border tells
        a position, so Gram statistics cannot pin the arrangement to the frame (textures).
        """
        layers = set(self.check_layers(layers))
        if not layers:
            return {}
        if dtype is not None and dtype != torch.float32:
            with torch.autocast(image.device.type, dtype=dtype):
                out = self.forward(image, layers, checkpoint_until, wrap=wrap)
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
                self._run, x, 0, split, inner, wrap, use_reentrant=False)
            x = results.pop()
            out.update(zip(inner, results))
            start = split + 1
        for index in range(start, last + 1):
            x = self._layer(index, x, wrap)
            if self.layer_names[index] in layers:
                out[self.layer_names[index]] = x
        return out

    def _layer(self, index: int, x: torch.Tensor, wrap: bool) -> torch.Tensor:
        module = self.features[index]
        if wrap and isinstance(module, nn.Conv2d) and module.padding != (0, 0):
            rows, cols = module.padding
            x = nn.functional.pad(x, (cols, cols, rows, rows), mode="circular")
            return nn.functional.conv2d(x, module.weight, module.bias, module.stride)
        return module(x)

    def _run(self, x: torch.Tensor, first: int, last: int, names: list[str],
             wrap: bool = False) -> list[torch.Tensor]:
        """Run modules first..last; return the activations named (in order), then the last one."""
        found = {}
        for index in range(first, last + 1):
            x = self._layer(index, x, wrap)
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
