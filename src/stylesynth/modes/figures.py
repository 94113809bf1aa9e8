"""The seed papers' experiments as labelled contact sheets (`stylesynth figure NAME`).

Every panel is one call of reconstruct, texture or transfer, so a figure runs on the same
engine as everything else; this module only decides what each panel varies and lays the
results out. The sheet's record (its PNG text chunk, and the JSON the CLI writes beside it)
holds every panel's caption, position, full parameters, seed and final losses, plus the
measure the paper discusses (PSNR against the photo for content reconstructions).

    layers   Gatys Fig. 1: content reconstructions from relu1_1 ... relu5_1 (top row) and style
             reconstructions from the growing subsets {relu1_1}, ..., {relu1_1 ... relu5_1}.
    grid     Gatys Fig. 3: rows are the growing style subsets, columns the ratios alpha/beta.
    ratios   Huang & Fuh, section 8: their alpha sweep beside the inputs. In their Eq. 5 alpha
             multiplies the content term, but their discussion (and results) treat alpha as the
             weight of the *style* ("since we increase the weight of style image, content image
             gradually can't hold its shape"): we follow the discussion. Their loss units are not
             given, so alpha maps to Gatys's alpha/beta as HUANG_FUH_UNIT / alpha, calibrated so
             that their "successful transfer" (alpha = 10000) is alpha/beta 1e-5, where our
             transfer is strongly painted (the default, 3e-4, keeps more of the photo).
    seeds    Gatys Fig. 6 (seed 003): results from white noise with different seeds, beside the
             deterministic result from the content image.
    init, pooling, models: the same transfer from each initialisation / with max and average
             pooling / with each network whose weights are available.

The paper figures start from white noise as the papers do; the others from the transfer's
default start (the photo in the painting's palette). Panels default to 256 px and the fast preset: a sheet is
many optimizations.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from PIL import Image, ImageDraw, ImageFont

from ..errors import InputError, StylesynthError
from ..io.images import open_image, to_tensor
from ..names import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, INITS, POOLINGS
from ..options import FigureOptions, from_keywords, renamed
from .inputs import source_names
from .reconstruct import reconstruct
from .texture import texture
from .transfer import transfer

FIGURES = ("layers", "grid", "ratios", "seeds", "init", "pooling", "models")
# Gatys Fig. 1 and 3. The paper names Caffe blobs, whose ReLUs work in place: its conv1_1 is relu1_1.
FIGURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GRID_RATIOS = FigureOptions.ratios  # Gatys Fig. 3's columns (alpha/beta)
HUANG_FUH_ALPHAS = FigureOptions.alphas
HUANG_FUH_UNIT = 0.1  # their alpha (style weight) -> our alpha/beta = HUANG_FUH_UNIT / alpha
# Content and style layers per network: AlexNet has no relu4_2; its layers are relu1 ... relu5.
MODEL_LAYERS = {
    "vgg16": (DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS),
    "vgg19": (DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS),
    "alexnet": ("relu4", "relu1,relu2,relu3,relu4,relu5"),
}


@dataclass
class Panel:
    """One cell of a sheet: an input shown as it is, or a result `make(**options)` computes."""

    caption: list[str]  # lines under the panel
    make: Callable[..., Image.Image] | None = None
    image: Image.Image | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # what this panel varies
    measure: Callable[[Image.Image], dict[str, float]] | None = None  # e.g. PSNR vs the photo


def figure(name: str, content: Any, style: Any, *, size: int = FigureOptions.size,
           preset: str = FigureOptions.preset, init: str | None = FigureOptions.init,
           ratios: tuple[float, ...] = FigureOptions.ratios, alphas: tuple[float, ...] = FigureOptions.alphas,
           seeds: int = FigureOptions.seeds, seed: int = FigureOptions.seed, progress: bool = True,
           **options: Any) -> Image.Image:
    """Render figure `name` (one of FIGURES) for a photo and a painting; return the sheet.

    `ratios`: the grid's columns (alpha/beta). `alphas`: the Huang & Fuh sweep. `seeds`: how
    many noise seeds the seeds figure shows (seed, seed+1, ...). `init` overrides each
    figure's start. These options are `FigureOptions` (options.py, with their help and bounds);
    other options (model, pooling, iterations, device, ...): `RunOptions`.
    The sheet's `info["stylesynth"]` is the record; `info["stylesynth"]["interrupted"]` says
    whether Ctrl-C stopped it early (the panels done so far are on the sheet).
    """
    if name not in FIGURES:
        raise InputError(f"unknown figure '{name}': choose one of {', '.join(FIGURES)}")
    FigureOptions(size=size, preset=preset, init=init, ratios=ratios, alphas=alphas, seeds=seeds,
                  seed=seed).check()
    options = {"size": size, "preset": preset, "seed": seed, **renamed(options)}
    from_keywords(dict(options, progress=False))  # check every option before any work
    from ..engine.start import output_size  # the engine, loaded by a run, not by the help

    photo, painting = open_image(content), open_image(style)
    panel_size = output_size(photo, size)
    title, rows = PLANS[name](photo=photo, painting=painting, panel_size=panel_size, init=init,
                              ratios=tuple(ratios), alphas=tuple(alphas), seeds=seeds, seed=seed,
                              options=options)
    interrupted = _render_panels(name, rows, options, progress)
    record = {
        "figure": name, "title": title, "content": source_names(content), "style": source_names(style),
        "size": size, "preset": preset, "init": init, "seed": seed,
        "options": {k: v for k, v in options.items() if k not in ("size", "preset", "seed")},
        "panel_size": list(panel_size), "rows": len(rows), "columns": max(len(r) for r in rows),
        "interrupted": interrupted,
        "panels": [_panel_record(panel, r, c) for r, row in enumerate(rows) for c, panel in enumerate(row)],
    }
    boxes: dict[tuple[int, int], list[int]] = {}
    sheet = contact_sheet(title, [[(p.image, p.caption) for p in row] for row in rows], panel_size, boxes)
    for entry in record["panels"]:
        if (entry["row"], entry["column"]) in boxes:
            entry["box"] = boxes[entry["row"], entry["column"]]  # where the panel is on the sheet
    sheet.info["stylesynth"] = record
    return sheet


def _render_panels(name: str, rows: list[list[Panel]], options: dict, progress: bool) -> bool:
    """Compute every result panel in order, with one progress bar (and ETA) over the sheet."""
    from ..engine.run import Reporter, clock

    todo = [p for row in rows for p in row if p.make is not None]
    bar = Reporter(f"figure {name}", len(todo), enabled=progress, counter="{n:.1f}/{total} panels")
    done = 0
    try:
        for index, panel in enumerate(todo):
            bar.update_to(index, f"panel {index + 1}/{len(todo)}: {' '.join(panel.caption)}")

            def on_step(step, index=index) -> None:
                bar.update_to(index + step.fraction)

            try:
                panel.image = panel.make(**{**options, "progress": False, "on_step": on_step})
            except KeyboardInterrupt:  # between two optimizations: keep the panels done
                return True
            if panel.measure is not None:
                panel.settings.update(panel.measure(panel.image))
            bar.update_to(index + 1)
            if panel.image.info["stylesynth"]["interrupted"]:
                return True
            done += 1
    finally:
        bar.close(f"{done} of {len(todo)} panels in {clock(bar.elapsed)}")
    return False


def _panel_record(panel: Panel, row: int, column: int) -> dict:
    entry = {"row": row, "column": column, "caption": " ".join(panel.caption),
             "kind": "input" if panel.make is None else "result", **panel.settings}
    if panel.make is not None:
        record = panel.image.info["stylesynth"] if panel.image is not None else None
        entry["done"] = record is not None and not record["interrupted"]
        if record is not None:
            entry.update(losses=record["losses"], seed=record["seed"], seconds=record["seconds"],
                         params=record)
    return entry


# -- what each figure varies ------------------------------------------------------------------

def _growing(layers: tuple[str, ...]) -> list[str]:
    """("a", "b", "c") -> ["a", "a,b", "a,b,c"]."""
    return [",".join(layers[:k]) for k in range(1, len(layers) + 1)]


def _span(subset: str) -> str:
    names = subset.split(",")
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"


def _ratio_text(ratio: float) -> str:
    exponent = math.log10(ratio)
    return f"1e{round(exponent)}" if abs(exponent - round(exponent)) < 1e-9 else f"{ratio:.3g}"


def _inputs(photo: Image.Image, painting: Image.Image) -> list[Panel]:
    return [Panel(["content (photo)"], image=photo), Panel(["style (painting)"], image=painting)]


def _result(caption: list[str], function: Callable[..., Image.Image], *inputs: Any, **fixed: Any) -> Panel:
    """A panel computed by `function(*inputs, **sheet options, **fixed)`: what the panel varies
    (`fixed`) wins over the sheet's options."""
    def make(**options: Any) -> Image.Image:
        return function(*inputs, **{**options, **fixed})
    return Panel(caption, make, settings=dict(fixed))


def _layers(*, photo, painting, panel_size, init, **_) -> tuple[str, list[list[Panel]]]:
    start = init or "noise"
    top = []
    for layer in FIGURE_LAYERS:
        panel = _result([f"content {layer}", ""], reconstruct, photo, layer=layer, init=start)
        panel.measure = _psnr_caption(panel, photo)
        top.append(panel)
    bottom = [_result([f"style {_span(subset)}"], texture, painting, layers=subset, init=start,
                      out_size=f"{panel_size[0]}x{panel_size[1]}")
              for subset in _growing(FIGURE_LAYERS)]
    return f"Gatys et al. Fig. 1: content (top) and style (bottom) reconstructions from {start}", [top, bottom]


def _psnr_caption(panel: Panel, photo: Image.Image) -> Callable[[Image.Image], dict[str, float]]:
    """PSNR of the result against the photo at the result's size; also the caption's last line."""
    def measure(image: Image.Image) -> dict[str, float]:
        target = to_tensor(photo.resize(image.size, Image.LANCZOS))
        mse = (to_tensor(image) - target).pow(2).mean().item()
        psnr = 10 * math.log10(1 / max(mse, 1e-12))
        panel.caption[-1] = f"PSNR {psnr:.1f} dB"
        return {"psnr_db": round(psnr, 3)}
    return measure


def _grid(*, photo, painting, init, ratios, **_) -> tuple[str, list[list[Panel]]]:
    start = init or "noise"
    rows = [[_result([_span(subset), f"alpha/beta {_ratio_text(ratio)}"], transfer, photo, painting,
                     style_layers=subset, ratio=ratio, init=start)
             for ratio in ratios] for subset in _growing(FIGURE_LAYERS)]
    return f"Gatys et al. Fig. 3: style layers (rows) by alpha/beta (columns), from {start}", rows


def _ratios(*, photo, painting, init, alphas, **_) -> tuple[str, list[list[Panel]]]:
    start = init or "noise"
    row = _inputs(photo, painting)
    for alpha in alphas:
        ratio = HUANG_FUH_UNIT / alpha
        panel = _result([f"alpha {alpha:g}, beta 1", f"(alpha/beta {_ratio_text(ratio)})"], transfer,
                        photo, painting, ratio=ratio, init=start)
        panel.settings.update(huang_fuh_alpha=alpha, huang_fuh_beta=1)
        row.append(panel)
    return f"Huang & Fuh sec. 8: alpha weighs the style, beta = 1 the content (from {start})", [row]


def _seeds(*, photo, painting, seeds, seed, **_) -> tuple[str, list[list[Panel]]]:
    row = _inputs(photo, painting) + [_result(["init palette"], transfer, photo, painting, init="palette")]
    row += [_result([f"noise, seed {s}"], transfer, photo, painting, init="noise", seed=s)
            for s in range(seed, seed + seeds)]
    return "White noise: a new image for every seed; the photo start: one image", [row]


def _init(*, photo, painting, **_) -> tuple[str, list[list[Panel]]]:
    row = _inputs(photo, painting) + [_result([f"init {start}"], transfer, photo, painting, init=start)
                                      # neural-style's start is all but flat; blobs are textures'
                                      for start in INITS if start not in ("neural-style", "blobs")]
    return "The same transfer from each initialisation", [row]


def _pooling(*, photo, painting, init, **_) -> tuple[str, list[list[Panel]]]:
    row = _inputs(photo, painting) + [
        _result([f"{pooling} pooling"], transfer, photo, painting, pooling=pooling, init=init or "palette")
        for pooling in POOLINGS]
    return "Max pooling (as trained) vs average pooling (Gatys et al.'s choice)", [row]


def _models(*, photo, painting, init, options, **_) -> tuple[str, list[list[Panel]]]:
    row = _inputs(photo, painting)
    for model, (content_layers, style_layers) in MODEL_LAYERS.items():
        # An explicit weights file belongs to the --model network only.
        weights_file = options.get("weights_file") if model == options.get("model", "vgg16") else None
        reason = _unavailable(model, weights_file)
        if reason:
            print(f"stylesynth: {model} left out: {reason}", file=sys.stderr)
            continue
        row.append(_result([model, f"{content_layers}; {_span(style_layers)}"], transfer, photo, painting,
                           model=model, weights_file=weights_file, content_layers=content_layers,
                           style_layers=style_layers, init=init or "palette"))
    return "The same transfer with each network whose weights are available", [row]


def _unavailable(model: str, explicit: str | None) -> str | None:
    """Why `model`'s weights cannot be had here, or None."""
    from ..nets.weights import env_var, fetch

    if explicit or os.environ.get(env_var(model)):
        return None  # an explicit file: a bad one is reported by the run itself
    try:
        fetch(model)
    except StylesynthError as e:
        return str(e).split(";")[0]
    return None


PLANS = {"layers": _layers, "grid": _grid, "ratios": _ratios, "seeds": _seeds, "init": _init,
         "pooling": _pooling, "models": _models}


# -- the sheet ----------------------------------------------------------------------------------

PAD = 10
CAPTION_PX = 15
TITLE_PX = 18


def _font(px: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=px)  # scalable (FreeType); Pillow >= 10.1
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def contact_sheet(title: str, rows: list[list[tuple[Image.Image | None, list[str]]]],
                  cell: tuple[int, int], boxes: dict | None = None) -> Image.Image:
    """Panels in a grid, each fitted into a `cell` with its caption lines under it; `title` on top.
    A panel without an image (not computed: interrupted) is left as an empty grey cell. `boxes`,
    if given, receives each pasted panel's [left, top, width, height] under (row, column)."""
    columns = max(len(row) for row in rows)
    lines = max(len(caption) for row in rows for _, caption in row)
    cell_w, cell_h = cell
    line_h = CAPTION_PX + 4
    block_h = cell_h + 4 + lines * line_h
    width = PAD + columns * (cell_w + PAD)
    top = PAD + TITLE_PX + 8
    height = top + len(rows) * (block_h + PAD)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((PAD, PAD), _fit_text(draw, title, width - 2 * PAD, TITLE_PX)[0], fill=(0, 0, 0),
              font=_fit_text(draw, title, width - 2 * PAD, TITLE_PX)[1])
    for r, row in enumerate(rows):
        for c, (image, caption) in enumerate(row):
            x, y = PAD + c * (cell_w + PAD), top + r * (block_h + PAD)
            if image is None:
                draw.rectangle([x, y, x + cell_w - 1, y + cell_h - 1], fill=(235, 235, 235))
            else:
                fitted = image.convert("RGB")
                fitted.thumbnail(cell, Image.LANCZOS)
                left, upper = x + (cell_w - fitted.width) // 2, y + (cell_h - fitted.height) // 2
                sheet.paste(fitted, (left, upper))
                if boxes is not None:
                    boxes[r, c] = [left, upper, fitted.width, fitted.height]
            for k, text in enumerate(caption):
                text, font = _fit_text(draw, text, cell_w, CAPTION_PX)
                w = draw.textlength(text, font=font)
                draw.text((x + (cell_w - w) / 2, y + cell_h + 4 + k * line_h), text, fill=(20, 20, 20), font=font)
    return sheet


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: int, px: int):
    """The text and a font small enough (down to 9 px) for it to fit `width`; cut if still too wide."""
    for size in range(px, 8, -1):
        font = _font(size)
        if draw.textlength(text, font=font) <= width:
            return text, font
    while text and draw.textlength(text + "..", font=font) > width:
        text = text[:-1]
    return text + "..", font


