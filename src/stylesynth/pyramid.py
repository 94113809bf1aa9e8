"""Coarse-to-fine schedules (Gatys et al. 2017, "Controlling Perceptual Factors"): optimize at a
small scale, upsample the result as the next scale's start, finish at the requested size.

A preset is [iterations at the first scale, iterations at each finer scale]; scales double. From
an image the pyramid starts at BASE_SIDE px (PRESETS), from white noise at NOISE_BASE_SIDE px
with most iterations at the cheap coarse scales (NOISE_PRESETS: first scale, the scales between,
the finest). Why there, and the measurements: docs/normalization.md.
"""

from __future__ import annotations

import math

from .classic import ITERATIONS
from .errors import InputError

# From an image. `fast` fits a minute on two CPU cores at 512 px; judged in docs/normalization.md.
PRESETS = {
    "draft": [30, 5],
    "fast": [44, 13],
    "quality": [96, 32],
    "single": [500],  # the engine's own objective at one scale, as the PyTorch tutorial
    "classic": [ITERATIONS],  # jcjohnson/neural-style's recipe (classic.py), one scale
}
# How many times a preset weighs the content term when it runs its own schedule (content_factor),
# so that a longer run paints better, not further from the photo. docs/normalization.md.
PRESET_CONTENT_FACTORS = {"quality": 3.0}
NOISE_PRESETS = {
    "draft": [60, 40, 8],
    "fast": [150, 100, 20],
    "quality": [400, 250, 60],
    "single": [500],
    "classic": [ITERATIONS],
}
BASE_SIDE = 256  # from an image: relu4_2 still holds the photo's layout here (not at 128 px)
NOISE_BASE_SIDE = 64  # from white noise: no layout to hold yet
MIN_SCALE_SIDE = 64  # coarser scales than this (long side) are skipped
DETAIL_SIDE = 512  # a preset's finer-scale count is for a picture of this long side ...
DETAIL_GROWTH = 3  # ... and grows this many times per doubling above it, up to PRINT_SIDE
PRINT_SIDE = 1024  # finer scales than this get fewer iterations (finer_count)
MIN_PRINT_ITERATIONS = 2


def content_factor(preset: str, iterations) -> float:
    """How many times the preset weighs the content term (PRESET_CONTENT_FACTORS); 1 with
    explicit iterations."""
    return PRESET_CONTENT_FACTORS.get(preset, 1.0) if iterations is None else 1.0


def finer_count(iterations: int, size: tuple[int, int], growth: float = DETAIL_GROWTH) -> int:
    """A finer scale's iterations at `size`: the preset's count up to DETAIL_SIDE px, `growth`
    times more per doubling up to PRINT_SIDE px (a transfer at 1024 px with 512 px's count had a
    style number up to 0.16 worse, docs/normalization.md), and above PRINT_SIDE the preset's count
    halved at each doubling (at least MIN_PRINT_ITERATIONS): up there the picture is laid out and
    upsampled, the iterations only sharpen the strokes, and each doubling costs twice the last."""
    side = max(size)
    if side > PRINT_SIDE:
        return max(MIN_PRINT_ITERATIONS, math.ceil(iterations * PRINT_SIDE / side))
    return math.ceil(iterations * growth ** math.log2(max(side, DETAIL_SIDE) / DETAIL_SIDE) - 1e-9)


def parse_iterations(iterations: int | str | list[int] | None) -> int | list[int] | None:
    """"N" or "a,b,c" (coarse to fine) to N or [a, b, c]; numbers and lists pass as they are."""
    if not isinstance(iterations, str):
        return iterations
    try:
        counts = [int(v) for v in iterations.split(",")]
    except ValueError:
        raise InputError(f"bad iterations '{iterations}': write N or N1,N2,... (coarse to fine)") from None
    return counts[0] if len(counts) == 1 else counts


def check_iterations(iterations: int | str | list[int] | None, scales: int | None = None
                     ) -> int | list[int] | None:
    """`iterations` parsed (see parse_iterations) and checked with `scales` before any work:
    every count at least 1, one count per scale."""
    iterations = parse_iterations(iterations)
    if scales is not None and (not isinstance(scales, int) or isinstance(scales, bool) or scales < 1):
        raise InputError(f"scales must be at least 1, got {scales}")
    counts = iterations if isinstance(iterations, list) else [] if iterations is None else [iterations]
    for n in counts:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InputError(f"iterations must be at least 1, got {n}")
    if isinstance(iterations, list) and scales is not None and scales != len(iterations):
        raise InputError(f"{len(iterations)} iteration counts for {scales} scales")
    return iterations


def scale_plan(out_size: tuple[int, int], minimum: int, *, preset: str = "fast",
               scales: int | None = None, iterations: int | str | list[int] | None = None,
               from_noise: bool = False) -> list[tuple[tuple[int, int], int]]:
    """[((width, height), iterations), ...] from the coarsest scale to `out_size`.

    `minimum`: the smallest side the deepest layer accepts; `scales`/`iterations` override the
    preset's (iterations: N for each scale, or one count per scale, coarse to fine)."""
    iterations = check_iterations(iterations, scales)
    own_scales = scales is None and not isinstance(iterations, list)  # the schedule is ours to choose
    if isinstance(iterations, list):
        scales = len(iterations)
    counts_of_preset = (NOISE_PRESETS if from_noise else PRESETS)[preset]
    base = NOISE_BASE_SIDE if from_noise else BASE_SIDE
    if scales is None:
        # At least two scales: the finest one, started from the coarser result, is where the
        # strokes are painted at the output's own size (docs/normalization.md).
        scales = 1 if len(counts_of_preset) == 1 else 1 + max(1, round(math.log2(max(out_size) / base)))
    width, height = out_size
    sizes = []
    for k in range(scales):
        factor = 2 ** (scales - 1 - k)
        size = (max(1, round(width / factor)), max(1, round(height / factor)))
        if factor > 1 and (max(size) < MIN_SCALE_SIDE or min(size) < minimum):
            if isinstance(iterations, list):
                iterations = iterations[1:]  # this scale's count goes with it
            continue  # too small to say anything: start at the next scale
        sizes.append(size)
    if own_scales and len(sizes) > 1 and max(sizes[0]) < base < max(out_size):
        # Halving put the first scale below `base` (a 384 or 768 px output): start at BASE_SIDE,
        # where relu4_2 holds the photo's layout (docs/normalization.md, "The first scale").
        sizes[0] = (max(1, round(width * base / max(out_size))), max(1, round(height * base / max(out_size))))
    if isinstance(iterations, list):
        counts = iterations
    elif iterations is not None:
        counts = [iterations] * len(sizes)
    else:
        # Scales between the first and the finest: the large structures are laid out by
        # BASE_SIDE px; above it an iteration costs too much for more than the finest's count.
        between = [counts_of_preset[min(1, len(counts_of_preset) - 1)] if max(size) <= BASE_SIDE
                   else counts_of_preset[-1] for size in sizes[1:-1]]
        counts = ([counts_of_preset[0]] + between + [counts_of_preset[-1]])[:len(sizes)]
        if len(sizes) > 1:
            # measured on transfers only: a texture's finer scales keep their count up to PRINT_SIDE
            growth = 1 if from_noise else DETAIL_GROWTH
            counts = [counts[0]] + [finer_count(n, size, growth) for n, size in zip(counts[1:], sizes[1:])]
    return list(zip(sizes, counts))


def describe(preset: str, from_noise: bool = False) -> str:
    """A preset's whole schedule in words, e.g. "44 iterations, then 13 at each finer scale"."""
    counts = (NOISE_PRESETS if from_noise else PRESETS)[preset]
    if preset == "classic":
        return f"{counts[0]} iterations at one scale (jcjohnson/neural-style's recipe: VGG19, its losses)"
    if len(counts) == 1:
        return f"{counts[0]} iterations at one scale"
    if len(counts) == 2:
        firmer = "" if from_noise or preset not in PRESET_CONTENT_FACTORS else \
            f", the content weighed {PRESET_CONTENT_FACTORS[preset]:g}x"
        return f"{counts[0]} iterations, then {counts[1]} at each finer scale{firmer}"
    return f"{counts[0]} iterations, {counts[1]} at each scale up to {BASE_SIDE} px, {counts[-1]} at the finest"


def preset_help(from_noise: bool = False) -> str:
    """The --preset help of a mode that starts from an image (transfer) or from white noise
    (texture, reconstruct): every preset's schedule, as scale_plan runs it."""
    start = (f"about {NOISE_BASE_SIDE} px" if from_noise else
             f"about {BASE_SIDE} px (half the output's size, never below {BASE_SIDE} px for a larger output)")
    return (f"Speed/quality: iterations per scale, the scales doubling from {start} to the output's: "
            + "; ".join(f"{name}: {describe(name, from_noise)}" for name in PRESETS)
            + (f". From {DETAIL_SIDE} to {PRINT_SIDE} px a finer scale's iterations grow {DETAIL_GROWTH}x per doubling"
               if not from_noise else "")
            + f". Above {PRINT_SIDE} px each doubling halves them.")
