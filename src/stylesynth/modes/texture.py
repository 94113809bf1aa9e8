"""Texture synthesis (Gatys Fig. 1, style rows): match Gram matrices only, from noise."""

from __future__ import annotations

from typing import Any

from PIL import Image

from ..errors import InputError
from ..options import MAX_SIZE, TextureOptions, from_keywords
from .inputs import init_spec, original_size, source_names, weighted_images


def parse_out_size(spec: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """"640x480" -> (640, 480)."""
    if spec is None or isinstance(spec, tuple):
        return spec
    try:
        width, height = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        raise InputError(f"bad --out-size '{spec}': write WIDTHxHEIGHT, e.g. 512x512") from None
    if width < 1 or height < 1:
        raise InputError(f"bad --out-size '{spec}': both sides must be positive")
    if max(width, height) > MAX_SIZE:
        raise InputError(f"bad --out-size '{spec}': at most {MAX_SIZE} px a side")
    return width, height


def texture(style: Any, *, layers: str | list[str] | dict[str, float] = TextureOptions.layers,
            out_size: str | tuple[int, int] | None = TextureOptions.out_size, init: Any = TextureOptions.init,
            **options: Any) -> Image.Image:
    """Synthesize a texture with the Gram statistics of `style` (Eq. 3-5).

    `size` (long side) sets the scale the style image is seen at; `out_size` ("WxH") the
    output's size, which may differ from the source's (default: the style image at `size`;
    `size="original"`: the (first) style image as it is).
    Several styles as [(source, weight), ...] blend their Gram matrices. These options are
    `TextureOptions` (options.py); other options: `RunOptions`.
    """
    from ..engine import colors
    from ..engine.objective import LossWeights, parse_layers  # the engine, loaded by a run, not by the help
    from ..engine.start import output_size
    from ..engine.synthesis import synthesize

    TextureOptions(layers=layers, out_size=out_size, init=init).check()
    images = weighted_images(style, "style")
    opts = from_keywords(original_size(options, images[0][0]))
    size = parse_out_size(out_size) or output_size(images[0][0], opts.size)
    result = synthesize(
        mode="texture", out_size=size, options=opts,
        loss_weights=LossWeights(content=0.0, style=1.0, tv=opts.tv_weight).for_preset(opts.preset, opts.iterations),
        style=images,
        style_layers=parse_layers(layers), init=init_spec(init),
        # The style is seen at `size` long side whatever the output's shape: a wider output
        # holds more of the same-sized structures, not a stretched painting.
        style_side=opts.size,
        record={"style": source_names(style)})
    # L-BFGS leaves the mean colour some grey levels off (up to 7 measured): the painting's is
    # put back, a constant per channel. docs/normalization.md, "Textures that are textures".
    return colors.shift_mean(result, sum(w * colors.mean_colour(img) for img, w in images))
