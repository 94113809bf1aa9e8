"""Style targets kept on disk: restyling with the same painting skips computing its Gram matrices.

An entry is keyed by the image's pixels and size, the network (architecture, pooling, weights)
and the layers, and holds the SHA-256 of its tensors: an entry that fails that check (flipped
bytes, NaN, another shape or type, a folder) is recomputed and replaced. A read-only or full
cache only costs time: the run goes on without it and says so once.
"""

from __future__ import annotations

import hashlib
import os

import torch

from ..nets.networks import FeatureExtractor
from ..nets.pretrained import weights_id
from ..nets.weights import cache_dir, cache_unwritable
from . import objective
from .objective import LayerTarget, Targets


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
        grams = _load(path, layers, image.device)
        if grams is None:
            grams = {name: target.value
                     for name, target in objective.style_targets(net, [(image, 1.0)], layers, tile).items()}
            _store(path, grams)
        for name in layers:
            blended[name] = blended[name] + w * grams[name].to(image.device)
    return {name: LayerTarget(layers[name], blended[name]) for name in layers}


def _digest(grams: dict[str, torch.Tensor]) -> str:
    """The SHA-256 of an entry's tensors (names, shapes, bytes), stored with it."""
    digest = hashlib.sha256()
    for name in sorted(grams):
        tensor = grams[name].detach().cpu().contiguous()
        digest.update(repr((name, tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _load(path, layers: dict[str, float], device) -> dict[str, torch.Tensor] | None:
    """The entry at `path` if it is there and sound: the layers asked for, square finite float
    Gram matrices, and the hash written with them. Anything else is None (recompute it)."""
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a damaged file
        return None
    grams = entry.get("grams") if isinstance(entry, dict) else None
    if not isinstance(grams, dict) or set(grams) != set(layers):
        return None
    for value in grams.values():
        if not (isinstance(value, torch.Tensor) and value.is_floating_point() and value.dim() == 2
                and value.shape[0] == value.shape[1] and bool(torch.isfinite(value).all())):
            return None
    if entry.get("sha256") != _digest(grams):
        return None
    return {name: value.to(device) for name, value in grams.items()}


def _store(path, grams: dict[str, torch.Tensor]) -> None:
    """Write an entry atomically; on any failure the run goes on (said once) and no temporary
    file stays."""
    grams = {k: v.detach().cpu() for k, v in grams.items()}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"grams": grams, "sha256": _digest(grams)}, tmp)
        os.replace(tmp, path)
    except Exception as error:  # noqa: BLE001  torch.save raises RuntimeError on a full disk
        cache_unwritable("style-target cache", path.parent, error)
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
