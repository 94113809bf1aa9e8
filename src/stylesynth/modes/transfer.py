"""Style transfer (Gatys Fig. 2): the content of a photograph in the style of a painting (Eq. 7),
with the artist controls of Gatys et al. 2017: colour preservation, style scale, region masks."""

from __future__ import annotations

from typing import Any

from PIL import Image

from .. import classic
from ..engine import colors
from ..io.images import to_tensor
from ..names import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from ..options import TransferOptions, from_keywords
from .inputs import init_spec, source_names, weighted_images
from .texture import parse_out_size

# A smaller transfer may be painted at PAINT_SIZE px long side (at most PAINT_UPSCALE times its
# own), then downscaled: VGG's strokes then cover less of the photo. docs/normalization.md, "Every size".
PAINT_SIZE = 512  # what `--paint-size` is measured with
PAINT_UPSCALE = 4 / 3


def painting_size(size: tuple[int, int], paint_size: int | None) -> tuple[int, int]:
    """The size a result of `size` is painted at: scaled up towards `paint_size` long side if
    smaller, by at most PAINT_UPSCALE."""
    if not paint_size or max(size) >= paint_size:
        return size
    k = min(paint_size / max(size), PAINT_UPSCALE)
    return max(1, round(size[0] * k)), max(1, round(size[1] * k))


def transfer(content: Any, style: Any, *,
             content_layers: str | list[str] | dict[str, float] = DEFAULT_CONTENT_LAYERS,
             style_layers: str | list[str] | dict[str, float] = DEFAULT_STYLE_LAYERS,
             ratio: float | None = None, content_weight: float | None = None,
             style_weight: float | None = None, init: Any = "palette",
             preserve_colors: str = "none", style_scale: float = 1.0, mask: Any = None,
             out_size: str | tuple[int, int] | None = None, fit: str = "crop",
             paint_size: int | None = None, **options: Any) -> Image.Image:
    """Render `content` in the style of `style`, minimizing alpha*content + beta*style.

    Give either `ratio` (alpha/beta, paper units: 1e-3 as in Fig. 2; None: DEFAULT_RATIO) or
    `content_weight` and `style_weight`, not both (engine/objective.py, LossWeights.from_options). `init` defaults to "palette", the photo recoloured to the painting's colour
    distribution (colors.match_distribution): it converges in far fewer iterations than white noise (the paper's
    choice, `init="noise"`) and, unlike the photo itself (`"content"`), reaches the palette. Several styles as
    [(source, weight), ...] blend their Gram matrices — or, with `mask`, each paints its own
    region (see engine/masks.py). `preserve_colors`: "luminance" or "histogram" keeps the photo's
    colours. `style_scale`: the style is seen at that multiple of the output size (bigger
    strokes above 1). `size="original"` keeps the content's resolution; `out_size="WxH"` sets
    the exact output size, cropping (`fit="crop"`) or padding (`fit="pad"`) the content to its
    shape. A result smaller than `paint_size` (long side) is painted larger, up to that size and at
    most PAINT_UPSCALE times its own, then downscaled (Lanczos): the strokes cover less of the
    photo. None or 0: at the output's size (video does so: its temporal term works on the frames).
    These options are checked by `TransferOptions` (options.py, with their help and bounds);
    other options: `RunOptions`. `preset="classic"` is jcjohnson/neural-style's recipe
    (classic.py): its layers, weights and start replace those left at their defaults here.
    """
    from ..engine.masks import region_masks  # the engine, loaded by a run, not by the help
    from ..engine.objective import LossWeights, parse_layers
    from ..engine.start import output_size
    from ..engine.synthesis import synthesize

    TransferOptions(**{"ratio": ratio, "content_weight": content_weight, "style_weight": style_weight,
                       "content_layers": content_layers, "style_layers": style_layers, "init": init,
                       "preserve_colors": preserve_colors, "style_scale": style_scale, "paint_size": paint_size,
                       "mask": mask, "out_size": out_size, "fit": fit}).check()
    if options.get("preset") == classic.PRESET:
        content_layers, style_layers, init = classic.transfer_settings(content_layers, style_layers, init)
    if options.get("size") == "original":
        options["size"] = None
    contents = weighted_images(content, "content")
    photo = contents[0][0]
    exact = parse_out_size(out_size)
    if exact:
        photo = _fit(photo, exact, fit)
        contents = [(_fit(img, exact, fit), w) for img, w in contents]
    if options.get("size", 0) is None or exact:
        options["size"] = max(exact or photo.size)
    opts = from_keywords(options)
    size = exact or output_size(photo, opts.size)
    styles = weighted_images(style, "style")
    # neural-style paints at the size asked; so does the classic preset.
    painted = size if opts.preset == classic.PRESET else painting_size(size, paint_size)
    if preserve_colors == "histogram":
        styles = [(colors.match_histogram(img, photo), w) for img, w in styles]
    elif preserve_colors == "luminance":
        styles = [(colors.luminance_image(img, like=photo), w) for img, w in styles]
        contents = [(colors.luminance_image(img), w) for img, w in contents]
    masks, protected = region_masks(mask, len(styles), painted) if mask is not None else (None, None)
    if masks is not None:
        styles = [(img, 1.0) for img, _ in styles]  # regions, not a blend
    job = {"mode": "transfer", "out_size": painted, "options": opts, "content": contents, "style": styles,
           "content_layers": parse_layers(content_layers), "style_layers": parse_layers(style_layers),
           "init": init_spec(init), "style_scale": style_scale, "style_masks": masks}
    record = {"content": source_names(content), "style": source_names(style), "preserve_colors": preserve_colors,
              "mask": source_names(mask) if mask is not None else None, "fit": fit if exact else None,
              "paint_size": paint_size or None, "painted_at": list(painted)}
    weights = LossWeights.from_options(ratio, content_weight, style_weight, opts.tv_weight, opts.preset)
    explicit = content_weight is not None or style_weight is not None or opts.preset == classic.PRESET
    record["ratio"] = None if explicit else weights.content
    result = synthesize(loss_weights=weights.for_preset(opts.preset, opts.iterations), record=record, **job)
    info = dict(result.info)
    if preserve_colors == "luminance":
        result = colors.with_chrominance(result, photo)
    elif preserve_colors == "histogram":  # the optimization drifts a little: match once more
        result = colors.match_histogram(result, photo.resize(result.size, Image.LANCZOS))
    if protected is not None:  # the protected region keeps the photo, blended at soft edges
        p = protected[0, 0].numpy()[..., None]
        mixed = to_tensor(result)[0].permute(1, 2, 0).numpy() * (1 - p) + \
            to_tensor(photo.resize(painted, Image.LANCZOS))[0].permute(1, 2, 0).numpy() * p
        result = Image.fromarray((mixed * 255).round().clip(0, 255).astype("uint8"), "RGB")
    if result.size != size:
        result = result.resize(size, Image.LANCZOS)
        info["stylesynth"] = {**info["stylesynth"], "size": list(size)}
    result.info.update(info)
    return result


def _fit(image: Image.Image, size: tuple[int, int], fit: str) -> Image.Image:
    """`image` brought to the aspect ratio of `size`: centre-cropped, or edge-padded."""
    w, h = image.size
    target = size[0] / size[1]
    if abs(w / h - target) < 1e-3:
        return image.resize(size, Image.LANCZOS)
    if fit == "crop":
        cw, ch = (round(h * target), h) if w / h > target else (w, round(w / target))
        left, top = (w - cw) // 2, (h - ch) // 2
        return image.crop((left, top, left + cw, top + ch)).resize(size, Image.LANCZOS)
    pw, ph = (w, round(w / target)) if w / h > target else (round(h * target), h)
    import numpy as np

    a = np.asarray(image)
    top, left = (ph - h) // 2, (pw - w) // 2
    padded = np.pad(a, ((top, ph - h - top), (left, pw - w - left), (0, 0)), mode="edge")
    return Image.fromarray(padded, "RGB").resize(size, Image.LANCZOS)
