"""Style targets kept on disk: restyling with the same painting skips computing its Gram matrices.

An entry is keyed by the image's pixels and size, the network (architecture, pooling, weights)
and the layers; a damaged entry is recomputed, and a read-only cache only costs time.
"""

from __future__ import annotations

import hashlib
import os

import torch

from . import objective
from .nets import FeatureExtractor
from .objective import LayerTarget, Targets
from .pretrained import weights_id
from .weights import cache_dir


def cached_style_targets(net: FeatureExtractor, images: list[tuple[torch.Tensor, float]],
                         layers: dict[str, float], use_cache: bool = True, tile: int | None = None) -> Targets:
    """objective.style_targets, with each image's Gram matrices kept on disk."""
    if not use_cache:
        return objective.style_targets(net, images, layers, tile)
    directory = cache_dir() / "targets"
    blended = {name: 0.0 for name in layers}
    for image, w in images:
        digest = hashlib.sha256(image.detach().cpu().numpy().tobytes())
        digest.update(repr((tuple(image.shape), net.arch, net.pooling, weights_id(net),
                            sorted(layers))).encode())
        path = directory / f"{digest.hexdigest()[:32]}.pt"
        grams = None
        if path.exists():
            try:
                grams = torch.load(path, map_location=image.device, weights_only=True)
            except Exception:  # a damaged entry is recomputed
                grams = None
        if grams is None or set(grams) != set(layers):
            grams = {name: target.value
                     for name, target in objective.style_targets(net, [(image, 1.0)], layers, tile).items()}
            try:
                directory.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                torch.save({k: v.cpu() for k, v in grams.items()}, tmp)
                os.replace(tmp, path)
            except OSError:
                pass  # a read-only cache only costs time
        for name in layers:
            blended[name] = blended[name] + w * grams[name].to(image.device)
    return {name: LayerTarget(layers[name], blended[name]) for name in layers}
