"""Content reconstruction (Gatys Fig. 1, content rows): match one layer's activations from noise."""

from __future__ import annotations

from typing import Any

from PIL import Image

from ..options import ReconstructOptions, from_keywords
from .inputs import init_spec, original_size, source_names, weighted_images


def reconstruct(image: Any, *, layer: str | list[str] | dict[str, float] = ReconstructOptions.layer,
                init: Any = ReconstructOptions.init, **options: Any) -> Image.Image:
    """Find an image whose activations at `layer` match those of `image` (Eq. 1).

    `image` may be a path, PIL image or tensor, or several as [(source, weight), ...], whose
    activations are blended (weighted inversion, Phon-Amnuaisuk Eq. 5). `layer` may name
    several layers with weights ("relu2_2:0.5,relu4_2:0.5"). `size="original"` keeps the (first)
    image's resolution. These options are `ReconstructOptions` (options.py); other options:
    `RunOptions`.
    """
    from ..engine.objective import LossWeights, parse_layers  # the engine, loaded by a run, not by the help
    from ..engine.start import output_size
    from ..engine.synthesis import synthesize

    ReconstructOptions(layer=layer, init=init).check()
    images = weighted_images(image, "content")
    opts = from_keywords(original_size(options, images[0][0]))
    return synthesize(
        mode="reconstruct", out_size=output_size(images[0][0], opts.size), options=opts,
        loss_weights=LossWeights(content=1.0, style=0.0, tv=opts.tv_weight).for_preset(opts.preset, opts.iterations),
        content=images,
        content_layers=parse_layers(layer), init=init_spec(init),
        record={"content": source_names(image)})
