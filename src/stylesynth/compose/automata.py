"""Elementary cellular automata (Wolfram, paper ref. [16]; Fig. 2 shows rules 30 and 90).

A row of cells, each live or dead, evolves one generation per image row. A cell's
next state depends on itself and its two neighbours: read (left, centre, right)
as a 3-bit number n = 4·left + 2·centre + right; the next state is bit n of the
rule number (0–255). Cells beyond the edges are always dead.
"""

from __future__ import annotations

import colorsys
import re

import numpy as np
from PIL import ImageColor

from ..errors import InputError
from .pixels import check_size

Color = tuple[int, int, int]
BLACK: Color = (0, 0, 0)
WHITE: Color = (255, 255, 255)
FIRST_ROWS = ("single", "random")
# Colour maps chosen by name: live cells coloured by their row (generation).
NAMED_COLORMAPS = ("rainbow",)
MAX_CELL = 64


def rule_table(rule: int) -> np.ndarray:
    """The rule as a lookup table: table[n] is the next state for neighbourhood n = 4l + 2c + r."""
    if isinstance(rule, bool) or not isinstance(rule, (int, np.integer)) or not 0 <= rule <= 255:
        raise InputError(f"rule must be an integer from 0 to 255, got {rule!r}")
    return np.array([(int(rule) >> n) & 1 for n in range(8)], dtype=bool)


def elementary_ca(
    rule: int, width: int, height: int, init: str = "single", seed: int | None = None
) -> np.ndarray:
    """Run the automaton; bool array (height, width), row t is generation t.

    init "single": one live cell at column width // 2; "random": each cell live
    with probability 1/2, drawn from numpy.random.default_rng(seed).
    """
    table = rule_table(rule)
    check_size(width, height, "automaton")
    cells = np.zeros((height, width), dtype=bool)
    if init == "single":
        cells[0, width // 2] = True
    elif init == "random":
        cells[0] = np.random.default_rng(seed).random(width) < 0.5
    else:
        raise InputError(f"unknown init {init!r}: choose from {', '.join(FIRST_ROWS)}")
    for t in range(1, height):
        prev = cells[t - 1].astype(np.uint8)
        # Shifted copies with a dead cell pushed in at the edge.
        left = np.concatenate(([0], prev[:-1]))
        right = np.concatenate((prev[1:], [0]))
        cells[t] = table[4 * left + 2 * prev + right]
    return cells


def parse_color(text: str) -> Color:
    """One colour: hex with or without '#' ("f00", "#ff8800") or a CSS name ("navy")."""
    t = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{3}|[0-9a-fA-F]{6}", t):
        t = "#" + t
    try:
        rgb = ImageColor.getrgb(t)
    except ValueError:
        raise InputError(f"unknown colour {text!r}: use hex like ff8800 or a name like navy") from None
    return tuple(rgb[:3])  # type: ignore[return-value]


def parse_colormap(text: str) -> str | tuple[Color, Color]:
    """"FG,BG" → (fg, bg) colours; a name in NAMED_COLORMAPS is returned as it is."""
    if text.strip() in NAMED_COLORMAPS:
        return text.strip()
    parts = text.split(",")
    if len(parts) != 2:
        raise InputError(
            f"colours {text!r}: give two colours 'FG,BG' (e.g. 000000,ffffff) "
            f"or one of: {', '.join(NAMED_COLORMAPS)}"
        )
    return parse_color(parts[0]), parse_color(parts[1])


def render_ca(cells: np.ndarray, cell: int = 1, colormap=None) -> np.ndarray:
    """Draw cells as a uint8 RGB image, each cell `cell` x `cell` pixels.

    colormap: None (live black on white), a pair (fg, bg) of RGB tuples, an
    "FG,BG" string, or "rainbow" (live cells coloured by generation, top red to
    bottom violet, on white).
    """
    cells = np.asarray(cells, dtype=bool)
    if not (isinstance(cell, (int, np.integer)) and 1 <= cell <= MAX_CELL):
        raise InputError(f"cell size must be an integer from 1 to {MAX_CELL} px, got {cell!r}")
    height, width = cells.shape
    check_size(width * cell, height * cell, "automaton image")
    if isinstance(colormap, str):
        colormap = parse_colormap(colormap)
    if colormap == "rainbow":
        hues = np.linspace(0.0, 0.8, height) if height > 1 else np.zeros(1)
        fg = np.array([colorsys.hsv_to_rgb(h, 1.0, 0.9) for h in hues]) * 255.0
        fg = np.round(fg).astype(np.uint8)[:, None, :]  # one colour per row
        bg = np.array(WHITE, dtype=np.uint8)
    else:
        fg_c, bg_c = colormap if colormap is not None else (BLACK, WHITE)
        fg, bg = np.array(fg_c, dtype=np.uint8), np.array(bg_c, dtype=np.uint8)
    img = np.where(cells[:, :, None], fg, bg).astype(np.uint8)
    # Scale by repetition so every cell is an exact cell x cell block.
    return np.repeat(np.repeat(img, cell, axis=0), cell, axis=1)
