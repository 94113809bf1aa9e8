"""Style transfer (Gatys Fig. 2): the content of a photograph in the style of a painting (Eq. 7)."""

from __future__ import annotations

from typing import Any

from PIL import Image

from ..synthesis import (DEFAULT_CONTENT_LAYERS, DEFAULT_RATIO, DEFAULT_STYLE_LAYERS, Weights,
                         output_size, parse_layers, synthesize)
from .inputs import init_spec, run_options, source_names, weighted_images


def transfer(content: Any, style: Any, *,
             content_layers: str | list[str] | dict[str, float] = DEFAULT_CONTENT_LAYERS,
             style_layers: str | list[str] | dict[str, float] = DEFAULT_STYLE_LAYERS,
             ratio: float | None = DEFAULT_RATIO, content_weight: float | None = None,
             style_weight: float | None = None, init: Any = "content",
             **options: Any) -> Image.Image:
    """Render `content` in the style of `style`, minimizing alpha*content + beta*style.

    Give either `ratio` (alpha/beta, paper units: 1e-3 as in Fig. 2) or `content_weight` and
    `style_weight`. `init` defaults to the content image, which converges in far fewer
    iterations than white noise (the paper's choice, `init="noise"`). Several styles as
    [(source, weight), ...] blend their Gram matrices. Other options: `RunOptions`.
    """
    opts = run_options(options)
    contents = weighted_images(content, "content")
    styles = weighted_images(style, "style")
    weights = Weights.from_options(ratio, content_weight, style_weight, opts.tv_weight)
    return synthesize(
        mode="transfer", out_size=output_size(contents[0][0], opts.size), options=opts,
        weights=weights, content=contents, style=styles,
        content_layers=parse_layers(content_layers), style_layers=parse_layers(style_layers),
        init=init_spec(init), record={"content": source_names(content), "style": source_names(style),
                                      "ratio": ratio if content_weight is None and style_weight is None else None})
