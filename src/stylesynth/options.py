"""The one catalogue of options: `RunOptions` (what every mode shares), `TransferOptions`
(transfer's own, which video and batch take too), and each other mode's own:
`ReconstructOptions`, `TextureOptions`, `DreamOptions`, `VideoOptions`, `FigureOptions`
(`MODE_OPTIONS` by command). The mode functions' keyword defaults are read from these classes.

Each field carries its help text, choices and bounds (`dataclasses.field(metadata=...)`). The
command line's options (cli.py), the Python API's checks, batch's manifest columns and the web
studio's form checks and `/api/config` are all read from here, and every number anywhere is
checked by `check_number`, so that none of them can drift from the others
(tests/test_options_catalogue.py).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import classic
from .errors import InputError
from .names import (DEFAULT_CONTENT_LAYERS, DEFAULT_RATIO, DEFAULT_STYLE_LAYERS, DEVICES, FITS, FLOW_METHODS,
                    INITS, NETWORKS, OPTIMIZERS, POOLINGS, PRECISIONS, PRESERVE_COLORS)
from .pyramid import PRESETS, preset_help

if TYPE_CHECKING:  # torch is loaded by the runs, not by the command line's help
    import torch

MAX_SIZE = 8192


def option(default: Any = None, help: str = "", *, kind: type | None = None, choices: tuple = (),
           low: float | None = None, high: float | None = None, strict: bool = False,
           span: str | None = None, label: str | None = None, flag: str | None = None,
           metavar: str | None = None, command_line: bool = True, batch: str | None = "job") -> Any:
    """A catalogue field and what is known about it: `kind` (int, float, str, bool; Path: a
    file; tuple: numbers, written with commas on the command line), `choices`, bounds `low`..`high` (`strict`: above `low`; `span`: how errors say
    them, if not the usual way), the `label` errors name it by, the command line's `flag`
    (default --field-name; "--a/--b" for a flag, or for two choices) and `metavar`;
    `command_line=False`: the API's alone. `batch`: "job", a batch's job may set it (a manifest's
    column); "batch", the same for every job (not part of a result); None, not in a batch."""
    return field(default=default, metadata={
        "help": help, "kind": kind, "choices": choices, "low": low, "high": high, "strict": strict,
        "span": span, "label": label, "flag": flag, "metavar": metavar, "command_line": command_line,
        "batch": batch if command_line else None})


@dataclass
class RunOptions:
    """Settings every mode shares (the modes' own are in their signatures)."""

    size: int = option(512, "Long side of the output in pixels ('original': the input image's own).",
                       kind=int, low=1, high=MAX_SIZE)
    model: str = option("vgg16", "The network.", kind=str, choices=NETWORKS, label="network")
    # Average pooling, Gatys et al.'s choice for synthesis: gradients reach every pixel of a
    # window, and the judge's style number drops by about 0.06 at the same content (measured,
    # docs/normalization.md). Max pooling is what the network was trained with.
    pooling: str = option("avg", "avg: Gatys et al.'s smoother choice.", kind=str, choices=POOLINGS)
    device: str = option("auto", "Where the network runs (auto: CUDA, then MPS, then the CPU).",
                         kind=str, choices=DEVICES, batch="batch")
    threads: int | None = option(None, "CPU threads (default: all cores).", kind=int, high=1024,
                                 batch="batch")
    weights_file: str | None = option(None, "Network weights file (torchvision .pth) [default: the "
                                      "resolver's order, see `stylesynth weights list`].", kind=Path,
                                      flag="--weights", batch="batch")
    optimizer: str = option("lbfgs", "L-BFGS, Adam, or plain gradient descent.", kind=str,
                            choices=OPTIMIZERS)
    precision: str = option("auto", "The network's arithmetic: auto is bfloat16 where the hardware has "
                            "it (about twice as fast), else float32.", kind=str, choices=PRECISIONS)
    preset: str = option("fast", preset_help(), kind=str, choices=tuple(PRESETS))
    scales: int | None = option(None, "Number of coarse-to-fine scales (1: single scale) "
                                "[default: the preset's].", kind=int, high=16)
    iterations: int | str | list[int] | None = option(
        None, "Iterations at each scale, or per scale coarse to fine [default: the preset's].",
        kind=str, metavar="N|N1,N2,..")
    # Above 1e6 no optimizer takes a useful step, and L-BFGS overflows float32 (a traceback).
    lr: float | None = option(None, "Step size (default per optimizer).", kind=float, low=0, high=1e6,
                              strict=True, label="learning rate")
    seed: int | None = option(None, "Random seed (default: random, recorded).", kind=int,
                              low=-2**63, high=2**64 - 1)
    tv_weight: float = option(0.0, "Total-variation smoothness weight.", kind=float, low=0,
                              label="tv weight")
    progress: bool = option(True, "Draw a progress bar on stderr (the command line's --quiet).",
                            kind=bool, command_line=False)
    on_step: Callable[..., None] | None = option(None, "Called after every iteration with its "
                                                 "engine.optimize.Step.", command_line=False)
    cache_targets: bool = option(True, "Keep style targets on disk: restyling skips that work.",
                                 kind=bool, flag="--cache-targets/--no-cache-targets", batch=None)
    memory_limit_mb: int | None = option(
        None, "Memory budget; larger runs recompute early layers or are refused "
        "[default: min(8 GiB, 80% of RAM)].", kind=int, low=0, strict=True, label="memory limit (MB)",
        flag="--memory-limit", metavar="MB", batch="batch")
    tile: int | None = option(
        None, "Evaluate each iteration tile by tile, PX-pixel tiles: the same gradient in bounded memory "
        "(VGG only) [default: only where the memory plan needs it].", kind=int, low=16, high=MAX_SIZE,
        metavar="PX", batch=None)
    checkpoint_path: str | None = option(None, "Where to keep the run's state (the command line: "
                                         "OUT.ckpt).", kind=Path, command_line=False)
    checkpoint_every: int = option(0, "Save the run's state to OUT.ckpt every N iterations.", kind=int,
                                   low=0, label="--checkpoint-every", metavar="N", batch=None)
    resume: bool = option(False, "Continue the run saved in OUT.ckpt, if any.", kind=bool, batch=None)
    # A further term of the objective (GatysObjective's `extra`): image -> (loss, parts); it may
    # be called at every scale's size (video's temporal loss, modes/video.py)
    extra_loss: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]] | None = option(
        None, "A further term of the objective: image -> (loss, parts).", command_line=False)

    def check(self) -> None:
        """Refuse, before any work, values that would fail late, overflow in C (a traceback),
        start a million threads, never finish (2**scales) or make the loss NaN."""
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            raise InputError(f"size must be a positive number of pixels, got {self.size}")
        if self.size > MAX_SIZE:
            raise InputError(f"size {self.size} is too large: at most {MAX_SIZE} px")
        for f in fields(self):
            check_fields(self, leave_out={"size"})


@dataclass
class TransferOptions:
    """Transfer's own settings (Gatys Fig. 2, Eq. 7, and the controls of Gatys et al. 2017);
    video and batch take them too."""

    # None: DEFAULT_RATIO, unless weights are given (LossWeights.from_options).
    ratio: float | None = option(None, f"alpha/beta, content vs style emphasis [default: {DEFAULT_RATIO:g}].",
                                 kind=float, low=0)
    content_weight: float | None = option(None, "alpha (instead of --ratio).", kind=float, low=0,
                                          label="content weight")
    style_weight: float | None = option(None, "beta (instead of --ratio).", kind=float, low=0,
                                        label="style weight")
    content_layers: str = option(DEFAULT_CONTENT_LAYERS, "Content layers, optionally weighted: "
                                 "relu4_2 or relu3_2:0.5,relu4_2:0.5.", kind=str)
    style_layers: str = option(DEFAULT_STYLE_LAYERS, "Optionally weighted: relu1_1:0.2,relu2_1:0.2,...",
                               kind=str)
    init: Any = option("palette", "palette (the photo in the painting's colours), content, noise, style, "
                       "or an image path.", kind=str)
    preserve_colors: str = option("none", "Keep the photo's colours: transfer luminance only, or match the "
                                  "style's colours first.", kind=str, choices=PRESERVE_COLORS)
    style_scale: float = option(1.0, "See the style at this multiple of the output size: above 1, bigger "
                                "strokes.", kind=float, low=0, high=8, strict=True, span="in (0, 8]",
                                label="style scale")
    paint_size: int | None = option(
        None, "Paint smaller results larger, up to this long side (at most 4/3 their own), then downscale: "
        "the strokes cover less of the photo, at about twice the time (e.g. 512).", kind=int, low=0,
        high=MAX_SIZE, label="paint size (--paint-size)", metavar="PX")
    mask: Any = option(None, "Label image: each colour (brightest first) gets one --style; an extra darkest "
                       "colour keeps the photo.", kind=Path, batch=None)
    out_size: str | tuple[int, int] | None = option(None, "Exact output size (see --crop/--pad).", kind=str,
                                                    metavar="WxH", batch=None)
    fit: str = option("crop", "Bring the content to --out-size's shape by centre-cropping or edge-padding.",
                      kind=str, choices=FITS, flag="--crop/--pad", batch=None)

    def check(self) -> None:
        check_fields(self)
        # What the weights then are: engine/objective.py, LossWeights.from_options.
        if self.ratio is not None and (self.content_weight is not None or self.style_weight is not None):
            raise InputError("give either --ratio or --content-weight/--style-weight, not both")
        if self.ratio is not None and not self.ratio > 0:
            raise InputError("ratio (alpha/beta) must be > 0: use --style-weight 0 or --content-weight 0 to switch "
                             "a term off")


def run_option(name: str, default: Any, help: str) -> Any:
    """RunOptions' field `name` (its kind, choices and bounds) with a mode's own default and help."""
    return field(default=default, metadata={**RunOptions.__dataclass_fields__[name].metadata, "help": help})


@dataclass
class ReconstructOptions:
    """Reconstruct's own settings (Gatys Fig. 1, content rows)."""

    layer: str = option("relu4_2", "Layer(s) to match, e.g. relu2_2 or relu2_2:0.5,relu4_2:0.5.", kind=str)
    init: Any = option("noise", "noise, or an image path to start from.", kind=str)

    def check(self) -> None:
        check_fields(self)


@dataclass
class TextureOptions:
    """Texture's own settings (Gatys Fig. 1, style rows)."""

    layers: str = option(DEFAULT_STYLE_LAYERS, "Style layers, optionally weighted: relu1_1:0.5,relu2_1:0.5.",
                         kind=str)
    out_size: str | tuple[int, int] | None = option(None, "Output size (default: the style's).", kind=str,
                                                    metavar="WxH")
    init: Any = option("blobs", "blobs (smooth random patches in the painting's colours), noise (white noise, "
                       "the paper's), or an image path to start from.", kind=str)

    def check(self) -> None:
        check_fields(self)


@dataclass
class DreamOptions:
    """DeepDream's own settings (Eq. 3, over octaves); its other options are RunOptions' but
    those that mean nothing to gradient ascent (modes/dream.py NOT_FOR_DREAM)."""

    layer: str = option("conv4_3", "Layer whose mean activation is maximised.", kind=str)
    channel: int | None = option(None, "Maximise one channel of the layer instead of all of it.", kind=int,
                                 metavar="K")
    octaves: int = option(4, "Scales, processed from the smallest up.", kind=int, low=1)
    octave_scale: float = option(1.4, "Size ratio between successive octaves.", kind=float, low=1, strict=True)
    step: float = option(0.01, "Gradient-ascent step δ in pixel units (0..1 scale).", kind=float, low=0,
                         strict=True)
    iterations: int = option(10, "Steps per octave.", kind=int, low=1)
    jitter: int = option(16, "Random shift of each step, up to this many px.", kind=int, low=0)

    def check(self) -> None:
        if self.channel is not None and (isinstance(self.channel, bool) or not isinstance(self.channel, int)):
            raise InputError(f"channel must be a whole number, got {self.channel!r}")
        check_fields(self)


@dataclass
class VideoOptions:
    """Video's own settings (Ruder, Dosovitskiy & Brox 2016); it takes transfer's and the
    RunOptions too, but those in modes/video.py NOT_FOR_VIDEO."""

    # Chosen with bench/video.py (docs in the README): the temporal term against the warped frame.
    temporal_weight: float = option(10.0, "Weight of the temporal loss: how closely a frame keeps the previous "
                                    "one, warped by the flow.", kind=float, low=0, label="temporal weight")
    flow_method: str = option("dis", "Optical flow (OpenCV): DIS or Farnebäck.", kind=str, choices=FLOW_METHODS,
                              label="flow method", flag="--flow")
    # Chosen with bench/video.py (README, Video): with the style term as a distance, 9 to 11 left a
    # late frame 14-15 % less stylized than on its own (style drifts as frames build on frames);
    # 12 gave 1.089 x, 14 gives 1.062 x at most and a mean as stylized as the independent frames.
    frame_iterations: int = option(14, "Iterations of each frame after the first (one scale, from the previous "
                                   "frame warped).", kind=int, low=1, label="frame iterations")
    independent: bool = option(False, "Stylize every frame on its own, like the first (flickers; for "
                               "comparison).", kind=bool)
    max_frames: int | None = option(None, "Stylize at most this many frames.", kind=int, low=1,
                                    span="at least 1", label="--max-frames")
    start: float = option(0.0, "Begin at this time.", kind=float, low=0, label="--start", metavar="SECONDS")
    # No bound but the selection's rule (after --start): inf, the clip's end.
    end: float | None = option(None, "Stop before this time.", kind=float, label="--end", metavar="SECONDS")
    fps: float | None = option(None, "Frame rate [default: the input video's; 24 for a folder of frames].",
                               kind=float, low=0, high=1000, strict=True, span="a frame rate in (0, 1000]",
                               label="--fps")
    resume: bool = option(False, "Continue after the last finished frame in the frames folder.", kind=bool)
    on_frame: Callable[[int, int, Any], None] | None = option(
        None, "Called after each finished frame: (index, count, image).", command_line=False)

    def check(self) -> None:
        start, end = self.start, self.end
        if isinstance(start, numbers.Real) and (start < 0 or (isinstance(end, numbers.Real) and end <= start)):
            raise InputError(f"--start must be >= 0 and --end after it, got {start} and {end}")
        if self.flow_method not in FLOW_METHODS:
            raise InputError(f"unknown flow method '{self.flow_method}': choose {' or '.join(FLOW_METHODS)}")
        check_fields(self, leave_out={"end"})


@dataclass
class FigureOptions:
    """The figure sheets' own settings, and their panels' size, preset and seed: RunOptions'
    fields with the sheets' defaults (a sheet is many optimizations)."""

    size: int = run_option("size", 256, "Long side of each panel in pixels.")
    preset: str = run_option("preset", "fast", "Every panel's preset: texture's schedules for the panels from "
                             "white noise, transfer's for the others (see their --help).")
    init: str | None = option(None, "Start of every panel but in seeds and init, which vary it [default: white "
                              "noise for layers, grid and ratios; the palette start otherwise].", kind=str,
                              choices=INITS)
    ratios: tuple[float, ...] = option((1e-5, 1e-4, 1e-3, 1e-2), "grid: the columns' alpha/beta.", kind=tuple,
                                       low=0, strict=True)  # Gatys Fig. 3's columns
    alphas: tuple[float, ...] = option((1000, 5000, 10000, 50000, 100000), "ratios: Huang & Fuh's alpha values "
                                       "(their weight of the style; beta = 1).", kind=tuple, low=0, strict=True)
    seeds: int = option(3, "seeds: how many noise seeds.", kind=int, low=1, high=16,
                        span="a whole number from 1 to 16")
    seed: int = run_option("seed", 0, "Seed of every panel (seeds: the first seed).")

    def check(self) -> None:
        """The sheet's own; size, preset and seed are checked with the RunOptions (from_keywords)."""
        check_fields(self, leave_out=RunOptions.__dataclass_fields__)


# Each command's own options (what `stylesynth COMMAND` and the function of the same name take
# besides the RunOptions).
MODE_OPTIONS = {"reconstruct": ReconstructOptions, "texture": TextureOptions, "transfer": TransferOptions,
                "dream": DreamOptions, "video": VideoOptions, "figure": FigureOptions}


# Every option of RunOptions and TransferOptions by name (the two classes share none; the other
# modes' own are their classes', MODE_OPTIONS).
FIELDS = {f.name: f for options in (RunOptions, TransferOptions) for f in fields(options)}
# Batch: what a job may set (a manifest's columns, the command line's options for every job), and
# what is the same for every job. Left out: what names a file a worker elsewhere could not read
# (a mask; init takes its names only there) and what a batch does not do.
JOB_OPTIONS = tuple(name for name, f in FIELDS.items() if f.metadata["batch"] == "job")
BATCH_WIDE = tuple(name for name, f in FIELDS.items() if f.metadata["batch"] == "batch")


def check_number(label: str, value: Any, *, whole: bool = False, low: float | None = None,
                 high: float | None = None, strict: bool = False, span: str | None = None) -> None:
    """The one number check: `value` is a finite number (`whole`: an integer, unless `strict`),
    from `low` (`strict`: above it) to `high`; refused in one line that names it by `label`."""
    whole = whole and not strict
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if whole else numbers.Real):
        ok = False
    else:
        ok = (math.isfinite(value) and (low is None or (value > low if strict else value >= low))
              and (high is None or value <= high))
    if ok:
        return
    if span:
        raise InputError(f"{label} must be {span}, got {value}")
    if whole:
        bounds = (f" between {low} and {high}" if low is not None and high is not None else
                  f" at most {high}" if high is not None else f" >= {low}" if low is not None else "")
        raise InputError(f"{label} must be a whole number{bounds}, got {value}")
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and (
            low is None or (value > low if strict else value >= low)):
        raise InputError(f"{label} must be at most {high:g}, got {value:g}")
    bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
    raise InputError(f"{label} must be a finite number{bound}, got {value}")


def check_fields(options: Any, leave_out=()) -> None:
    """Check every field of `options` (an instance of a catalogue class) but `leave_out`."""
    for f in fields(options):
        if f.name not in leave_out:
            check_value(f, getattr(options, f.name))


def check_value(f, value: Any, *, low: float | None = None, high: float | None = None) -> None:
    """Check one field's value against its catalogue entry (None is always allowed); `low` and
    `high` narrow its bounds (a server's limits)."""
    meta = f.metadata
    label = meta["label"] or f.name
    if value is None:
        return
    if meta["choices"] and value not in meta["choices"]:
        raise InputError(f"unknown {label} '{value}': choose one of {', '.join(meta['choices'])}")
    if meta["kind"] is tuple:  # one or more numbers, each within the bounds
        try:
            if not len(value):
                raise InputError(label)
            for v in value:
                check_number(label, v, low=meta["low"], high=meta["high"], strict=meta["strict"])
        except (InputError, TypeError):
            bound = "" if meta["low"] is None else f" {'>' if meta['strict'] else '>='} {meta['low']:g}"
            shown = list(value) if isinstance(value, (list, tuple)) else value
            raise InputError(f"{label} must be one or more finite numbers{bound}, got {shown}") from None
    if meta["kind"] in (int, float):
        low = meta["low"] if low is None else low if meta["low"] is None else max(low, meta["low"])
        high = meta["high"] if high is None else high if meta["high"] is None else min(high, meta["high"])
        check_number(label, value, whole=meta["kind"] is int, low=low, high=high, strict=meta["strict"],
                     span=meta["span"])


def parse(name: str, value: Any) -> Any:
    """An option's value written as text (a form's field, a manifest's cell) or as JSON, as its
    kind: "12" -> 12 for a whole number; iterations N or N1,N2,.. (a JSON list too)."""
    kind = FIELDS[name].metadata["kind"]
    what = {int: "a whole number", float: "a number"}.get(kind, "text")
    try:
        if name == "size" and value == "original":
            return value
        if name == "iterations":
            if isinstance(value, list) or (isinstance(value, str) and "," in value):
                return ",".join(str(_whole(v)) for v in (value if isinstance(value, list) else value.split(",")))
            return _whole(value)
        if kind is int:
            return _whole(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except (TypeError, ValueError):
        raise InputError(f"bad {name} {str(value)[:40]!r}: {what}") from None


def _whole(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def catalogue(options: type = RunOptions) -> dict[str, dict[str, Any]]:
    """Every field of `options`: its default and what its metadata says (JSON-ready)."""
    return {f.name: {"default": f.default, "help": f.metadata["help"],
                     "choices": list(f.metadata["choices"]), "low": f.metadata["low"],
                     "high": f.metadata["high"]}
            for f in fields(options)}


def renamed(options: dict) -> dict:
    """`options` with `weights` (load_network's, evaluate's and batch's name) as `weights_file`."""
    options = dict(options)
    if "weights" in options and "weights_file" not in options:
        options["weights_file"] = options.pop("weights")
    return options


def from_keywords(options: dict) -> RunOptions:
    """Keyword options to checked RunOptions, refusing unknown names with the list of known ones.
    The classic preset's network, pooling, precision, TV weight and size (classic.py) replace
    options left at their defaults."""
    options = renamed(options)
    if options.get("preset") == classic.PRESET:
        options = classic.fill(options, classic.OPTIONS,
                               {name: f.default for name, f in RunOptions.__dataclass_fields__.items()})
    known = RunOptions.__dataclass_fields__
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)}: known are {', '.join(known)}")
    opts = RunOptions(**options)
    opts.check()  # before the modes resize anything to opts.size
    return opts
