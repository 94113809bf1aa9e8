"""Click commands for the pixel-level tools; cli.py adds every command in `commands`.

Each command checks its options, then the output path (so a bad path fails
before any work and nothing is written), computes, saves with the command name
and every option recorded in the image's metadata, and prints the output path.
"""

from __future__ import annotations

import click
import numpy as np

from ..errors import InputError
from ..io.images import check_output_path, open_image, save_image
from ..io.outputs import input_paths, refuse_overwriting
from .automata import FIRST_ROWS, MAX_CELL, elementary_ca, parse_colormap, render_ca
from .blend import MODES, blend
from .filters import FILTER_KINDS, apply_filter, filter_image, parse_kernel
from .patterns import PATTERNS, evaluate_formula, render_preset
from .pixels import MAX_SIDE, to_pil

_output = click.option(
    "-o", "--output", required=True, metavar="OUT", help="Output image (.png, .jpg, .jpeg or .webp)."
)
_size = click.IntRange(1, MAX_SIDE)


def _save(ctx: click.Context, pixels: np.ndarray, **effective) -> None:
    """Save the result with the command's parameters and print where it went.

    `effective` overrides options whose default was left as None so that misuse
    could be detected (e.g. --alpha with --mask): the metadata records the values used.
    """
    params = {"command": ctx.command.name, **ctx.params, **effective}
    path = save_image(to_pil(pixels), ctx.params["output"], params)
    click.echo(str(path))


@click.command("filter", short_help="Convolve an image with a kernel, or sketch it (Eq. 1, Fig. 1).")
@click.argument("image")
@_output
@click.option("--kind", type=click.Choice(FILTER_KINDS), help="A named filter.")
@click.option("--kernel", help="Your own kernel: rows split by ';', values by ',', e.g. '0,-1,0;-1,5,-1;0,-1,0'.")
@click.option(
    "--blur-radius", type=click.FloatRange(0.1, 100.0), default=None,
    help="Blur sigma in pixels for the sketch kinds (default 5).",
)
@click.pass_context
def filter_command(ctx, image, output, kind, kernel, blur_radius):
    """Convolve IMAGE with a kernel (Eq. 1), or draw it as a pencil sketch (Fig. 1)."""
    if (kind is None) == (kernel is None):
        raise InputError("give exactly one of --kind or --kernel")
    if blur_radius is not None and kind not in ("sketch", "sketch-color"):
        raise InputError("--blur-radius applies only to --kind sketch or sketch-color")
    k = parse_kernel(kernel) if kernel is not None else None
    check_output_path(output)
    refuse_overwriting({"output": output}, input_paths(image))
    img = open_image(image)
    if k is not None:
        _save(ctx, filter_image(img, k))
    elif kind in ("sketch", "sketch-color"):
        radius = 5.0 if blur_radius is None else blur_radius
        _save(ctx, apply_filter(img, kind, blur_radius=radius), blur_radius=radius)
    else:
        _save(ctx, apply_filter(img, kind))


@click.command("blend", short_help="Blend image A over B (Eq. 2): normal, multiply, screen, overlay.")
@click.argument("a")
@click.argument("b")
@_output
@click.option(
    "--alpha", type=click.FloatRange(0.0, 1.0), default=None,
    help="Weight of A: out = alpha*M(A,B) + (1-alpha)*B (default 0.5).",
)
@click.option("--mode", type=click.Choice(MODES), default="normal", show_default=True, help="Blend mode.")
@click.option("--mask", help="Grey image used as a per-pixel alpha (white shows A); replaces --alpha.")
@click.pass_context
def blend_command(ctx, a, b, output, alpha, mode, mask):
    """Blend image A over image B (Eq. 2); B and the mask are resized to A."""
    if alpha is not None and mask is not None:
        raise InputError("give --alpha or --mask, not both: the mask is a per-pixel alpha")
    check_output_path(output)
    refuse_overwriting({"output": output}, input_paths(a, b, mask))
    top, base = open_image(a), open_image(b)
    if mask is None:
        alpha = 0.5 if alpha is None else alpha
        _save(ctx, blend(top, base, alpha=alpha, mode=mode), alpha=alpha)
    else:
        _save(ctx, blend(top, base, mode=mode, mask=open_image(mask)))


@click.command("automaton", short_help="Draw an elementary cellular automaton (rule 0-255).")
@_output
@click.option("--rule", type=click.IntRange(0, 255), required=True, help="Wolfram rule number, 0-255 (e.g. 30, 90).")
@click.option("--width", type=_size, required=True, help="Cells per row.")
@click.option("--height", type=_size, required=True, help="Generations (rows), the first being the initial state.")
@click.option("--init", type=click.Choice(FIRST_ROWS), default="single", show_default=True, help="Initial row.")
@click.option("--seed", type=int, default=None, help="Random seed for --init random.")
@click.option("--cell", type=click.IntRange(1, MAX_CELL), default=1, show_default=True, help="Pixels per cell side.")
@click.option("--colors", default=None, help="'FG,BG' (hex or names, e.g. 000000,ffffff) or 'rainbow'.")
@click.pass_context
def automaton_command(ctx, output, rule, width, height, init, seed, cell, colors):
    """Draw an elementary cellular automaton (Fig. 2: rules 30 and 90), one row per generation."""
    colormap = parse_colormap(colors) if colors is not None else None
    check_output_path(output)
    cells = elementary_ca(rule, width, height, init=init, seed=seed)
    _save(ctx, render_ca(cells, cell=cell, colormap=colormap))


@click.command("pattern", short_help="Render a pattern from a formula or a preset.")
@_output
@click.option("--formula", help="Expression over x, y, r, theta; 'R;G;B' for colour. E.g. '0.5+0.5*sin(10*r)'.")
@click.option("--preset", type=click.Choice(list(PATTERNS)), help="A named pattern.")
@click.option("--width", type=_size, required=True, help="Image width in pixels.")
@click.option("--height", type=_size, required=True, help="Image height in pixels.")
@click.option("--normalize", is_flag=True, help="Stretch the formula's range to 0..255 instead of clipping [0, 1].")
@click.pass_context
def pattern_command(ctx, output, formula, preset, width, height, normalize):
    """Render a pattern from a compact formula or a preset (Fig. 2)."""
    if (formula is None) == (preset is None):
        raise InputError("give exactly one of --formula or --preset")
    if preset is not None and normalize:
        raise InputError("--normalize applies only to --formula")
    check_output_path(output)
    if formula is not None:
        result = evaluate_formula(formula, width, height, normalize=normalize)
    else:
        result = render_preset(preset, width, height)
    _save(ctx, result)


commands: list = [filter_command, blend_command, automaton_command, pattern_command]
