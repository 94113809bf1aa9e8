"""Turning what callers pass (paths, PIL images, tensors, weighted lists) into weighted images."""

from __future__ import annotations

import os
from typing import Any

from PIL import Image

from ..errors import InputError
from ..io.images import open_image
from ..names import INITS


def weighted_images(sources: Any, what: str) -> list[tuple[Image.Image, float]]:
    """One source, a list of sources, or a list of (source, weight) pairs -> [(RGB image, w)], sum w = 1."""
    if sources is None:
        raise InputError(f"no {what} image given")
    if not isinstance(sources, (list, tuple)) or _is_pair(sources):
        sources = [sources]
    items = []
    for item in sources:
        source, weight = item if _is_pair(item) else (item, 1.0)
        items.append((open_image(source), float(weight)))
    if not items:
        raise InputError(f"no {what} image given")
    from ..engine.objective import normalize_blend  # torch: loaded by a run, not by the help

    return normalize_blend(items, what)


def _is_pair(item: Any) -> bool:
    return (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (int, float))
            and not isinstance(item[1], bool))


def init_spec(init: Any) -> str | Image.Image:
    """A start image's name (start.INITS), or an image (a path or an image object)."""
    if isinstance(init, str) and init in INITS:
        return init
    if isinstance(init, (str, os.PathLike)) and not os.path.exists(init):
        raise InputError(f"unknown init '{init}': use {', '.join(INITS)} or the path of an "
                         "image file (there is no such file)")
    if isinstance(init, (str, os.PathLike, Image.Image)) or hasattr(init, "shape"):
        return open_image(init)
    raise InputError(f"unknown init {init!r}: use {', '.join(INITS)} or an image path")


def source_names(sources: Any) -> Any:
    """What the record says about the inputs: paths as given, other objects by type."""
    if isinstance(sources, (list, tuple)) and not _is_pair(sources):
        return [source_names(s) for s in sources]
    if _is_pair(sources):
        return [source_names(sources[0]), sources[1]]
    return str(sources) if isinstance(sources, (str, os.PathLike)) else type(sources).__name__


def original_size(options: dict[str, Any], image: Image.Image) -> dict[str, Any]:
    """`options` with size="original" read as `image`'s long side (the mode's own input:
    reconstruct's photo, texture's painting, dream's image)."""
    return {**options, "size": max(image.size)} if options.get("size") == "original" else options
