"""Networks with their pretrained weights: `load_network`, and the networks a process shares.

Apart from nets.py (the architectures) and weights.py (where weights come from, which checks a
file against the architecture's shapes), so that neither of those two imports the other's user.
"""

from __future__ import annotations

import functools
import hashlib
import os

import torch

from .networks import FeatureExtractor, pick_device
from .weights import load_state_dict


def load_network(arch: str = "vgg16", pooling: str = "max", device: str | torch.device = "auto",
                 weights: str | os.PathLike | None = None) -> FeatureExtractor:
    """A FeatureExtractor with pretrained ImageNet weights (`weights`: a file, else the
    resolver's order, see weights.py) on the chosen device."""
    net = FeatureExtractor(arch, pooling)
    state = load_state_dict(arch, weights)
    net.features.load_state_dict({k[len("features."):]: v for k, v in state.items()
                                  if k.startswith("features.")})
    dev = device if isinstance(device, torch.device) else pick_device(device)
    net = net.to(dev)
    if dev.type in ("cpu", "cuda"):
        net = net.to(memory_format=torch.channels_last)
    return net


@functools.lru_cache(maxsize=4)
def shared_network(model: str, pooling: str, device: str, weights_file: str | None) -> FeatureExtractor:
    """`load_network`, loaded once per process: every run with the same network reuses it."""
    return load_network(model, pooling, device, weights_file)


@functools.lru_cache(maxsize=4)
def weights_id(net: FeatureExtractor) -> str:
    """Identifies a network's weights in cache keys: a hash of its first and last conv kernels."""
    convs = [m.weight for m in net.features if isinstance(m, torch.nn.Conv2d)]
    digest = hashlib.sha256(convs[0].detach().cpu().numpy().tobytes())
    digest.update(convs[-1].detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]
